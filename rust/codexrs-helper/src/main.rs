//! The executable codex-core re-executes for apply_patch, the Linux sandbox, the execve
//! wrapper and its exec/fs helpers.
//!
//! Inside Python the host binary is the interpreter, which cannot dispatch on argv[0]; codexrs
//! points codex at this program (and at alias links to it) instead. It does nothing but codex's
//! own arg0 dispatch: every recognised invocation exits inside `arg0_dispatch`.

fn main() {
    // Returns only when neither argv[0] nor argv[1] named a codex helper.
    let _guard = codex_arg0::arg0_dispatch();
    let argv0 = std::env::args().next().unwrap_or_default();
    eprintln!(
        "codexrs-helper: not a codex helper invocation ({argv0}); codex-core runs this program \
         as apply_patch, codex-linux-sandbox or codex-execve-wrapper"
    );
    std::process::exit(2);
}
