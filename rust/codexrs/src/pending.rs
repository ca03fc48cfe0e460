//! Slow operations (engine start, thread start, shutdown) as one awaitable handle.
//!
//! The work runs as a tokio task. Sync callers block on [`Pending::wait`] without the GIL;
//! asyncio callers watch [`Pending::fileno`], a socket that becomes readable when the task is
//! done, with `loop.add_reader`, so no Python thread is parked per operation and no tokio
//! worker ever takes the GIL. Cancelling (Python task cancelled, Ctrl-C) drops the Rust future.

use std::future::Future;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::Mutex;

use futures::FutureExt;
use pyo3::prelude::*;
use tokio::sync::watch;

use crate::errors::CoreError;
use crate::errors::CoreResult;
use crate::runtime;

/// A connected socket pair for one operation's wake-up: the reader (non-blocking, its descriptor
/// watched by asyncio) and the writer (one byte when the operation ends).
pub(crate) fn wake_pair() -> CoreResult<(UnixStream, UnixStream)> {
    let (reader, writer) = UnixStream::pair()
        .map_err(|e| CoreError::Internal(format!("cannot create a wake-up socket: {e}")))?;
    reader
        .set_nonblocking(true)
        .map_err(|e| CoreError::Internal(format!("cannot configure a wake-up socket: {e}")))?;
    Ok((reader, writer))
}

/// Builds the Python result under the GIL once the task is done.
pub type Finish = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

struct Shared {
    slot: Mutex<Option<CoreResult<Finish>>>,
    done: watch::Sender<bool>,
    writer: UnixStream,
}

/// A running codex operation; see the module docs.
#[pyclass(module = "codexrs._native", frozen)]
pub struct Pending {
    shared: Arc<Shared>,
    reader: UnixStream,
    task: tokio::task::AbortHandle,
    what: &'static str,
}

impl Pending {
    /// Starts `fut` on the codexrs runtime.
    pub fn spawn<F>(what: &'static str, fut: F) -> CoreResult<Self>
    where
        F: Future<Output = CoreResult<Finish>> + Send + 'static,
    {
        let handle = runtime::handle()?;
        let (reader, writer) = wake_pair()?;
        let (done, _) = watch::channel(false);
        let shared = Arc::new(Shared { slot: Mutex::new(None), done, writer });
        let task_shared = Arc::clone(&shared);
        let task = handle.spawn(async move {
            let result = match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(result) => result,
                Err(payload) => Err(CoreError::Internal(format!(
                    "{what} panicked: {}",
                    crate::panics::payload_text(&*payload)
                ))),
            };
            task_shared.finish(result);
        });
        Ok(Self { shared, reader, task: task.abort_handle(), what })
    }
}

impl Shared {
    fn finish(&self, result: CoreResult<Finish>) {
        let mut slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(result);
        }
        drop(slot);
        self.done.send_replace(true);
        // One byte makes the reader readable; a full socket is already readable.
        let _ = (&self.writer).write(&[1]);
    }
}

#[pymethods]
impl Pending {
    /// The file descriptor that becomes readable when the operation is done (for asyncio).
    fn fileno(&self) -> i32 {
        self.reader.as_raw_fd()
    }

    /// Whether the operation has finished (successfully or not).
    fn done(&self) -> bool {
        *self.shared.done.borrow()
    }

    /// Cancels the operation: its Rust future is dropped. A later `result()` raises
    /// `EngineClosedError`.
    fn cancel(&self) {
        self.task.abort();
        self.shared.finish(Err(CoreError::Closed(format!("{} was cancelled", self.what))));
    }

    /// Blocks until done, without the GIL; Ctrl-C cancels the operation and raises.
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let handle = runtime::handle()?;
        let mut done = self.shared.done.subscribe();
        while !*done.borrow() {
            py.detach(|| {
                handle.block_on(async {
                    let _ = tokio::time::timeout(runtime::SLICE, done.wait_for(|d| *d)).await;
                })
            });
            if let Err(err) = py.check_signals() {
                self.cancel();
                return Err(err);
            }
        }
        self.result(py)
    }

    /// The operation's result; raises its error. Only valid once `done()` is true, and only
    /// once.
    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let taken = self
            .shared
            .slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match taken {
            Some(Ok(finish)) => finish(py),
            Some(Err(err)) => Err(err.into_pyerr()),
            None if self.done() => Err(CoreError::Internal(format!(
                "the result of {} was already taken",
                self.what
            ))
            .into_pyerr()),
            None => Err(CoreError::Internal(format!("{} is not done yet", self.what)).into_pyerr()),
        }
    }
}

impl Drop for Pending {
    /// An operation nobody can observe any more is cancelled (a no-op once it is done).
    fn drop(&mut self) {
        self.task.abort();
    }
}
