//! Waking asyncio readers: one socket pair per engine, shared by all of its threads.
//!
//! An asyncio reader that found its thread's queue empty arms the thread's [`Waker`] and waits.
//! When the pump queues events for an armed thread it puts the thread's token on the engine's
//! ready list and writes one byte to the engine's socket, only if no byte is pending already.
//! Python watches the engine's one descriptor (`loop.add_reader`, registered while someone
//! waits), takes the ready list and wakes those threads' readers. So 1,000 threads hold no
//! descriptor of their own, and a burst of events across many threads costs one wake-up of the
//! event loop, not one per thread. No tokio worker takes the GIL; a write never blocks.

use std::io::Read;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use pyo3::prelude::*;

use crate::errors::CoreError;
use crate::errors::CoreResult;

/// The engine's wake-up socket and the tokens of the threads that have events for an armed
/// reader (see the module docs).
pub struct Wakeups {
    reader: UnixStream,
    writer: UnixStream,
    /// A byte is in the socket that Python has not taken yet.
    signaled: AtomicBool,
    ready: Mutex<Vec<u64>>,
    next_token: AtomicU64,
}

impl Wakeups {
    pub fn new() -> CoreResult<Arc<Self>> {
        let (reader, writer) = UnixStream::pair()
            .map_err(|e| CoreError::Internal(format!("cannot create a wake-up socket: {e}")))?;
        for s in [&reader, &writer] {
            s.set_nonblocking(true)
                .map_err(|e| CoreError::Internal(format!("cannot configure a wake-up socket: {e}")))?;
        }
        Ok(Arc::new(Self {
            reader,
            writer,
            signaled: AtomicBool::new(false),
            ready: Mutex::new(Vec::new()),
            next_token: AtomicU64::new(1),
        }))
    }

    fn push(&self, token: u64) {
        self.ready.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(token);
        if !self.signaled.swap(true, Ordering::AcqRel) {
            let _ = (&self.writer).write(&[1]);
        }
    }

    /// Drains the socket, then takes the ready list. A push that lands between the two is
    /// in the list taken now; one after it writes a new byte (a later, maybe empty, take).
    fn take(&self) -> Vec<u64> {
        // At most one byte is pending per signal: one read drains it (a full read means more).
        let mut sink = [0u8; 64];
        while matches!((&self.reader).read(&mut sink), Ok(n) if n == sink.len()) {}
        self.signaled.store(false, Ordering::Release);
        std::mem::take(&mut *self.ready.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

/// One thread's side of its engine's [`Wakeups`]: a token and an "armed" flag. The pump holds
/// this, not the queue's receiver, so dropping the reader ends the pump.
pub struct Waker {
    wakeups: Arc<Wakeups>,
    token: u64,
    armed: AtomicBool,
}

impl Waker {
    pub fn new(wakeups: &Arc<Wakeups>) -> Arc<Self> {
        let token = wakeups.next_token.fetch_add(1, Ordering::Relaxed);
        Arc::new(Self { wakeups: Arc::clone(wakeups), token, armed: AtomicBool::new(false) })
    }

    /// Tells an asyncio reader that armed the queue that events (or the end) arrived.
    pub fn wake(&self) {
        if self.armed.swap(false, Ordering::AcqRel) {
            self.wakeups.push(self.token);
        }
    }

    pub fn arm(&self) {
        self.armed.store(true, Ordering::Release);
    }

    pub fn token(&self) -> u64 {
        self.token
    }

    pub fn engine_wakeups(&self) -> EngineWakeups {
        EngineWakeups::new(&self.wakeups)
    }
}

/// The engine's wake-up descriptor, for asyncio (Python: `codexrs._native.EngineWakeups`).
#[pyclass(module = "codexrs._native", frozen)]
pub struct EngineWakeups {
    inner: Arc<Wakeups>,
}

impl EngineWakeups {
    pub fn new(wakeups: &Arc<Wakeups>) -> Self {
        Self { inner: Arc::clone(wakeups) }
    }
}

#[pymethods]
impl EngineWakeups {
    /// The descriptor that becomes readable when an armed thread has events.
    fn fileno(&self) -> i32 {
        self.inner.reader.as_raw_fd()
    }

    /// The tokens (`ThreadHandle.token()`) of the armed threads that have events since the
    /// last call; drains the descriptor.
    fn take(&self) -> Vec<u64> {
        self.inner.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_wakes_only_when_armed_and_one_byte_serves_many() {
        let wakeups = Wakeups::new().unwrap();
        let (a, b) = (Waker::new(&wakeups), Waker::new(&wakeups));
        a.wake();
        let mut buf = [0u8; 8];
        assert!((&wakeups.reader).read(&mut buf).is_err(), "woke without being armed");
        a.arm();
        b.arm();
        a.wake();
        b.wake();
        a.wake(); // not armed any more
        assert_eq!((&wakeups.reader).read(&mut buf).unwrap(), 1, "one byte for both");
        assert_eq!(wakeups.take(), vec![a.token(), b.token()]);
        assert!(wakeups.take().is_empty());
    }

    #[test]
    fn a_wake_after_a_take_signals_again() {
        let wakeups = Wakeups::new().unwrap();
        let a = Waker::new(&wakeups);
        a.arm();
        a.wake();
        assert_eq!(wakeups.take(), vec![a.token()]);
        a.arm();
        a.wake();
        let mut buf = [0u8; 8];
        assert_eq!((&wakeups.reader).read(&mut buf).unwrap(), 1, "signaled again after the take");
        assert_eq!(wakeups.take(), vec![a.token()]);
    }
}
