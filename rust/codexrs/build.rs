//! Links again when the workspace's linker changes: cargo tracks the linker's path
//! (`.cargo/config.toml`), not what `build_backend/link-cc` does (the glibc it links for).
fn main() {
    println!("cargo:rerun-if-changed=../../build_backend/link-cc");
}
