//! The one tokio runtime of the process.
//!
//! Created on first use, owned by codexrs, shut down with a bounded timeout at interpreter exit
//! (`codexrs` registers an `atexit` hook), and refused in a forked child: tokio's worker threads
//! do not survive `fork()`, so a child that inherited the runtime gets a clear error instead of a
//! hang. Blocking waits release the GIL and wake every [`SLICE`] to let Python deliver signals
//! (Ctrl-C); no tokio worker ever takes the GIL.
//!
//! It has more worker threads than cores ([`worker_threads`]): codex-core blocks a worker in
//! places. Each model request builds an HTTP client whose `User-Agent` comes from `os_info::get`
//! (codex-login's `default_headers`), which runs `lsb_release -a` (on Debian a shell script that
//! starts six more) and `getconf LONG_BIT` and waits for them on the worker; a runtime of one
//! worker per core is then held by a burst of turn starts and the turns already streaming stall
//! behind it.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use pyo3::prelude::*;
use tokio::runtime::Handle;
use tokio::runtime::Runtime;

use crate::errors::CoreError;
use crate::errors::CoreResult;

/// How long a blocking wait sleeps without the GIL before checking for signals.
pub const SLICE: Duration = Duration::from_millis(50);
/// codex-core runs deep async stacks; its own binaries give workers 16 MiB.
const WORKER_STACK_BYTES: usize = 16 * 1024 * 1024;
/// The fewest and the most worker threads (see [`worker_threads`]).
const MIN_WORKERS: usize = 8;
const MAX_WORKERS: usize = 1024;
/// tokio's own setting for the number of workers; codexrs reads it itself (tokio panics on a
/// value that is not a positive integer; codexrs ignores such a value).
const WORKERS_ENV: &str = "TOKIO_WORKER_THREADS";

/// How many worker threads the runtime has: `TOKIO_WORKER_THREADS` if it is a positive integer
/// (at most [`MAX_WORKERS`]), else twice the cores and at least [`MIN_WORKERS`], so that workers
/// codex-core blocks in a burst of turn starts (see the module docs) leave others to the streams.
fn worker_threads(env: Option<&str>, cores: usize) -> usize {
    env.and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .map_or_else(|| (2 * cores).max(MIN_WORKERS), |n| n.min(MAX_WORKERS))
}

struct State {
    runtime: Option<Runtime>,
    pid: u32,
    shut_down: bool,
}

static STATE: Mutex<State> = Mutex::new(State { runtime: None, pid: 0, shut_down: false });

/// The runtime's handle, creating the runtime on first use.
pub fn handle() -> CoreResult<Handle> {
    let mut state = STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let pid = std::process::id();
    if state.runtime.is_some() && state.pid != pid {
        return Err(CoreError::Closed(
            "the codexrs runtime was created in the parent process and cannot be used after \
             fork(); create Codex objects in the child (or use the 'spawn' start method)"
                .into(),
        ));
    }
    if state.shut_down {
        return Err(CoreError::Closed("the codexrs runtime was shut down".into()));
    }
    if let Some(rt) = &state.runtime {
        return Ok(rt.handle().clone());
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let workers = worker_threads(std::env::var(WORKERS_ENV).ok().as_deref(), cores);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(workers)
        .thread_name("codexrs-worker")
        .thread_stack_size(WORKER_STACK_BYTES)
        .build()
        .map_err(|e| CoreError::Internal(format!("cannot start the tokio runtime: {e}")))?;
    let handle = rt.handle().clone();
    state.runtime = Some(rt);
    state.pid = pid;
    Ok(handle)
}

/// When a wait of `timeout` seconds started now ends: `None` (no limit) for `None`, `inf` or a
/// time too far to represent; never panics on any float (see [`crate::errors::seconds`]).
pub fn deadline(timeout: Option<f64>) -> Option<Instant> {
    timeout.and_then(|t| Instant::now().checked_add(crate::errors::seconds(t)))
}

/// How long a blocking wait toward `deadline` may sleep before checking for signals: at most
/// [`SLICE`], never past the deadline.
pub fn slice(deadline: Option<Instant>) -> Duration {
    deadline.map_or(SLICE, |d| d.saturating_duration_since(Instant::now()).min(SLICE))
}

/// Runs `fut` on the runtime and waits for it without the GIL, checking for signals every
/// [`SLICE`]. A signal (Ctrl-C) aborts the task and raises the signal's exception.
pub fn wait<F, T>(py: Python<'_>, what: &'static str, fut: F) -> PyResult<T>
where
    F: Future<Output = CoreResult<T>> + Send + 'static,
    T: Send + 'static,
{
    let handle = handle()?;
    let mut task = handle.spawn(fut);
    loop {
        let polled = py.detach(|| {
            handle.block_on(async { tokio::time::timeout(SLICE, &mut task).await })
        });
        match polled {
            Ok(Ok(result)) => return result.map_err(CoreError::into_pyerr),
            Ok(Err(join)) => return Err(CoreError::from_join(join, what).into_pyerr()),
            Err(_elapsed) => {
                if let Err(err) = py.check_signals() {
                    task.abort();
                    return Err(err);
                }
            }
        }
    }
}

/// Shuts the runtime down, giving running tasks at most `timeout` to finish. Later calls to
/// [`handle`] fail. Returns whether there was a runtime to shut down.
pub fn shutdown(timeout: Duration) -> bool {
    let runtime = {
        let mut state = STATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.shut_down = true;
        if state.pid != std::process::id() {
            // A forked child must not touch the parent's worker threads: leak them.
            std::mem::forget(state.runtime.take());
            return false;
        }
        state.runtime.take()
    };
    match runtime {
        Some(rt) => {
            rt.shutdown_timeout(timeout);
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_twice_the_cores_at_least_eight_unless_tokio_worker_threads_says() {
        assert_eq!(worker_threads(None, 2), 8);
        assert_eq!(worker_threads(None, 16), 32);
        assert_eq!(worker_threads(Some("3"), 2), 3);
        assert_eq!(worker_threads(Some(" 12 "), 2), 12);
        assert_eq!(worker_threads(Some("100000"), 2), MAX_WORKERS);
        // tokio panics on these; codexrs falls back to its own count
        for bad in ["", "0", "-1", "two", "1e3"] {
            assert_eq!(worker_threads(Some(bad), 2), 8, "{bad:?}");
        }
    }
}
