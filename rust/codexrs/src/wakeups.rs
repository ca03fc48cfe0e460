//! One read for every thread of an engine: a wake-up socket, a ready list and the threads' queues.
//!
//! A thread that Python follows (an asyncio reader waits on it, or an all-threads consumer
//! watches the engine) is *armed*: when its pump queues events, the thread's token goes on the
//! engine's ready list, once until the next read, and one byte goes into the engine's socket,
//! only if none is pending already. Python watches the engine's one descriptor
//! (`loop.add_reader`) or blocks on it (`wait`), and then makes one call, `take_batches()`,
//! which takes every listed thread's queued events as one buffer. So 1,000 threads hold no
//! descriptor of their own, and a burst of events across many threads costs one wake-up of the
//! event loop and one native call, not one per thread or per event.
//!
//! Back-pressure stays per thread: Python disarms a thread whose events it holds past its bound
//! (its reader lags), and the pump then fills that thread's queue and parks, as before; the other
//! threads go on. No tokio worker takes the GIL; a write never blocks.

use std::collections::HashMap;
use std::io::Read;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::Condvar;
use std::sync::Mutex;
use std::sync::Weak;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tokio::sync::mpsc;

use crate::errors::CoreError;
use crate::errors::CoreResult;
use crate::requests::Queued;
use crate::runtime;

/// One read stops adding events past this many bytes (the rest wait for the next read).
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// A thread's queue, as its handle and the engine-wide read share it.
pub type Queue = Mutex<mpsc::Receiver<Queued>>;

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Appends to `out` every event queued after `first`, comma-separated, while `out` is shorter
/// than `limit`. Returns when the oldest event (the first: the queue is FIFO) was queued.
pub fn append_events(out: &mut Vec<u8>, rx: &mut mpsc::Receiver<Queued>, first: Queued, limit: usize) -> Instant {
    let (at, first) = first;
    out.extend_from_slice(&first);
    while out.len() < limit {
        match rx.try_recv() {
            Ok((_, next)) => {
                out.push(b',');
                out.extend_from_slice(&next);
            }
            Err(_) => break,
        }
    }
    at
}

struct Follower {
    queue: Weak<Queue>,
    waker: Weak<Waker>,
    /// The codex thread id, as a JSON string (shared: a read copies no string per entry).
    thread_id: Arc<str>,
}

/// The engine's wake-up socket, the tokens of the armed threads with events, and every live
/// thread's queue (see the module docs).
pub struct Wakeups {
    reader: UnixStream,
    writer: UnixStream,
    /// A byte is in the socket that Python has not taken yet.
    signaled: AtomicBool,
    ready: Mutex<Vec<u64>>,
    /// Notified with a push while a blocking `wait` waits (`waiting` of them).
    pushed: Condvar,
    /// Blocking `wait`s asleep on `pushed`.
    waiting: AtomicUsize,
    next_token: AtomicU64,
    threads: Mutex<HashMap<u64, Follower>>,
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
            pushed: Condvar::new(),
            waiting: AtomicUsize::new(0),
            next_token: AtomicU64::new(1),
            threads: Mutex::new(HashMap::new()),
        }))
    }

    /// Registers a thread's queue for engine-wide reads; returns its waker. The registry holds
    /// neither strongly: the thread's handle owns both.
    pub fn register(self: &Arc<Self>, queue: &Arc<Queue>, thread_id: &str) -> Arc<Waker> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let waker = Arc::new(Waker {
            wakeups: Arc::clone(self),
            token,
            armed: AtomicBool::new(false),
            listed: AtomicBool::new(false),
        });
        let follower = Follower {
            queue: Arc::downgrade(queue),
            waker: Arc::downgrade(&waker),
            thread_id: serde_json::to_string(thread_id).unwrap_or_else(|_| "\"\"".to_string()).into(),
        };
        let mut threads = lock(&self.threads);
        threads.retain(|_, f| f.queue.strong_count() > 0);
        threads.insert(token, follower);
        waker
    }

    fn push(&self, token: u64) {
        lock(&self.ready).push(token);
        // A waiter counts itself under the lock before it sleeps, so after the push's unlock
        // this sees it; no waiter, no futex call per push (the common case: Python watches the
        // descriptor, not `wait`).
        if self.waiting.load(Ordering::Acquire) > 0 {
            self.pushed.notify_all();
        }
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
        std::mem::take(&mut *lock(&self.ready))
    }

    /// Every listed thread's queued events, as one JSON array of
    /// `[token, thread_id, lag_s, [event, ...], ended]`: `lag_s` is how long the oldest waited in
    /// the queue; `ended` says the thread's pump is gone and every event was taken. Up to
    /// `limit` bytes: a thread whose events did not all fit, and the threads not reached, are
    /// listed again for the next read. `None` when no listed thread had anything.
    pub fn take_batches(&self, limit: usize) -> Option<Vec<u8>> {
        let tokens = self.take();
        if tokens.is_empty() {
            return None;
        }
        let followers: Vec<(u64, Arc<Queue>, Arc<Waker>, Arc<str>)> = {
            let threads = lock(&self.threads);
            tokens
                .iter()
                .filter_map(|t| {
                    let f = threads.get(t)?;
                    Some((*t, f.queue.upgrade()?, f.waker.upgrade()?, f.thread_id.clone()))
                })
                .collect()
        };
        let mut out = Vec::with_capacity(256);
        out.push(b'[');
        let mut entries = 0usize;
        // Still listed (not reached), and unlisted with events left (did not all fit).
        let (mut not_reached, mut left) = (Vec::new(), Vec::new());
        for (token, queue, waker, thread_id) in followers {
            if out.len() >= limit {
                not_reached.push(token);
                continue;
            }
            // Unlisted before the drain: an event queued after it lists the thread again.
            waker.listed.store(false, Ordering::Release);
            let mut rx = lock(&queue);
            let (first, ended) = match rx.try_recv() {
                Ok(first) => (Some(first), false),
                Err(mpsc::error::TryRecvError::Empty) => (None, false),
                Err(mpsc::error::TryRecvError::Disconnected) => (None, true),
            };
            if first.is_none() && !ended {
                continue;
            }
            if entries > 0 {
                out.push(b',');
            }
            entries += 1;
            let lag = first.as_ref().map_or(0.0, |(at, _)| at.elapsed().as_secs_f64());
            // Written in place: no string made per entry.
            let _ = write!(out, "[{token},{thread_id},{lag:.9},[");
            let mut more = false;
            if let Some(first) = first {
                append_events(&mut out, &mut rx, first, limit);
                more = !rx.is_empty();
            }
            // The pump is gone and nothing is left: this reader's end.
            let ended = ended || (!more && rx.is_closed());
            drop(rx);
            out.extend_from_slice(if ended { b"],true]" } else { b"],false]" });
            if more {
                left.push(waker);
            }
        }
        out.push(b']');
        for token in not_reached {
            self.push(token);
        }
        for waker in left {
            if !waker.listed.swap(true, Ordering::AcqRel) {
                self.push(waker.token);
            }
        }
        (entries > 0).then_some(out)
    }

    /// Blocks up to `slice` for a push (the ready list non-empty). True if one is there.
    fn wait_pushed(&self, slice: std::time::Duration) -> bool {
        let ready = lock(&self.ready);
        if !ready.is_empty() {
            return true;
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let (ready, _) = self.pushed.wait_timeout(ready, slice).unwrap_or_else(std::sync::PoisonError::into_inner);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        !ready.is_empty()
    }
}

/// One thread's side of its engine's [`Wakeups`]: a token, an "armed" flag (Python follows the
/// thread) and a "listed" flag (the token is on the ready list). The pump holds this, not the
/// queue's receiver, so dropping the reader ends the pump.
pub struct Waker {
    wakeups: Arc<Wakeups>,
    token: u64,
    armed: AtomicBool,
    listed: AtomicBool,
}

impl Waker {
    /// Tells Python, if it follows this thread, that events (or the end) arrived.
    pub fn wake(&self) {
        if self.armed.load(Ordering::Acquire) && !self.listed.swap(true, Ordering::AcqRel) {
            self.wakeups.push(self.token);
        }
    }

    /// Follows the thread from now on; `queued` lists it at once (events arrived before).
    pub fn arm(&self, queued: bool) {
        self.armed.store(true, Ordering::Release);
        if queued {
            self.wake();
        }
    }

    /// Stops following the thread (its events stay queued; the pump parks once the queue is full).
    pub fn disarm(&self) {
        self.armed.store(false, Ordering::Release);
    }

    pub fn token(&self) -> u64 {
        self.token
    }

    pub fn engine_wakeups(&self) -> EngineWakeups {
        EngineWakeups::new(&self.wakeups)
    }
}

/// The engine's wake-up descriptor and its one read for every thread (Python:
/// `codexrs._native.EngineWakeups`).
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
    /// last call; drains the descriptor. Takes no events (`take_batches` does).
    fn take(&self) -> Vec<u64> {
        self.inner.take()
    }

    /// Every armed thread's queued events, in one JSON array of `[token, thread_id, lag_s,
    /// [event, ...], ended]` (see `crate::wakeups`), or `None`. Never blocks; drains the
    /// descriptor.
    fn take_batches<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.inner.take_batches(MAX_BATCH_BYTES).map(|bytes| PyBytes::new(py, &bytes))
    }

    /// Blocks (without the GIL) until an armed thread has events, up to `timeout` seconds
    /// (`None`: no limit). True if one has; Ctrl-C raises.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let deadline = runtime::deadline(timeout);
        loop {
            let slice = runtime::slice(deadline);
            let inner = Arc::clone(&self.inner);
            if py.detach(move || inner.wait_pushed(slice)) {
                return Ok(true);
            }
            py.check_signals()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(wakeups: &Arc<Wakeups>) -> (mpsc::Sender<Queued>, Arc<Queue>, Arc<Waker>) {
        let (tx, rx) = mpsc::channel(64);
        let queue = Arc::new(Mutex::new(rx));
        let waker = wakeups.register(&queue, "t");
        (tx, queue, waker)
    }

    fn send(tx: &mpsc::Sender<Queued>, waker: &Waker, n: u32) {
        tx.try_send((Instant::now(), format!(r#"{{"n":{n}}}"#).into_bytes())).unwrap();
        waker.wake();
    }

    fn entries(bytes: &[u8]) -> Vec<(u64, Vec<u64>, bool)> {
        let parsed: Vec<(u64, String, f64, Vec<serde_json::Value>, bool)> = serde_json::from_slice(bytes).unwrap();
        parsed
            .into_iter()
            .map(|(token, thread_id, lag, events, ended)| {
                assert_eq!(thread_id, "t");
                assert!(lag >= 0.0);
                (token, events.iter().map(|e| e["n"].as_u64().unwrap()).collect(), ended)
            })
            .collect()
    }

    #[test]
    fn a_thread_is_listed_only_when_armed_once_per_read_and_one_byte_serves_many() {
        let wakeups = Wakeups::new().unwrap();
        let (atx, _aq, a) = thread(&wakeups);
        let (btx, _bq, b) = thread(&wakeups);
        send(&atx, &a, 1);
        let mut buf = [0u8; 8];
        assert!((&wakeups.reader).read(&mut buf).is_err(), "woke without being armed");
        a.arm(true); // an event was queued before: listed at once
        b.arm(false);
        send(&btx, &b, 2);
        send(&atx, &a, 3); // already listed: not again
        assert_eq!((&wakeups.reader).read(&mut buf).unwrap(), 1, "one byte for both");
        assert_eq!(lock(&wakeups.ready).clone(), vec![a.token(), b.token()]);
    }

    #[test]
    fn one_read_takes_every_armed_threads_events_in_order_and_leaves_the_disarmed_queued() {
        let wakeups = Wakeups::new().unwrap();
        let (atx, _aq, a) = thread(&wakeups);
        let (btx, bq, b) = thread(&wakeups);
        let (ctx, cq, c) = thread(&wakeups);
        for w in [&a, &b, &c] {
            w.arm(false);
        }
        c.disarm();
        for n in 0..3 {
            send(&atx, &a, n);
            send(&btx, &b, 10 + n);
            send(&ctx, &c, 20 + n);
        }
        let got = entries(&wakeups.take_batches(MAX_BATCH_BYTES).unwrap());
        assert_eq!(got, vec![(a.token(), vec![0, 1, 2], false), (b.token(), vec![10, 11, 12], false)]);
        assert!(wakeups.take_batches(MAX_BATCH_BYTES).is_none(), "read twice");
        assert_eq!(lock(&cq).len(), 3, "a disarmed thread's events were taken");
        // Listed again by the next event; the end comes with the last events.
        send(&btx, &b, 13);
        drop(btx);
        b.wake();
        assert_eq!(entries(&wakeups.take_batches(MAX_BATCH_BYTES).unwrap()), vec![(b.token(), vec![13], true)]);
        assert!(lock(&bq).is_empty());
        drop(ctx);
    }

    #[test]
    fn a_read_past_its_byte_limit_leaves_the_rest_queued_in_order_and_listed() {
        let wakeups = Wakeups::new().unwrap();
        let (atx, _aq, a) = thread(&wakeups);
        let (btx, _bq, b) = thread(&wakeups);
        a.arm(false);
        b.arm(false);
        for n in 0..4 {
            send(&atx, &a, n);
        }
        send(&btx, &b, 100);
        // Room for a's first event only: the rest of a, and b, wait for the next read.
        let got = entries(&wakeups.take_batches(20).unwrap());
        assert_eq!(got, vec![(a.token(), vec![0], false)]);
        let got = entries(&wakeups.take_batches(MAX_BATCH_BYTES).unwrap());
        assert_eq!(got, vec![(b.token(), vec![100], false), (a.token(), vec![1, 2, 3], false)]);
        assert!(wakeups.take_batches(MAX_BATCH_BYTES).is_none());
    }

    #[test]
    fn a_wait_returns_when_an_armed_thread_is_listed() {
        let wakeups = Wakeups::new().unwrap();
        let (atx, _aq, a) = thread(&wakeups);
        assert!(!wakeups.wait_pushed(std::time::Duration::from_millis(1)));
        a.arm(false);
        let waiting = {
            let wakeups = Arc::clone(&wakeups);
            std::thread::spawn(move || wakeups.wait_pushed(std::time::Duration::from_secs(60)))
        };
        send(&atx, &a, 1);
        assert!(waiting.join().unwrap());
    }
}
