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

use crate::errors::CoreError;
use crate::errors::CoreResult;
use crate::queue::Receiver;
use crate::runtime;

/// One read takes no more threads' queues past this many bytes (the rest wait for the next
/// read; a thread's queue is taken whole, and holds at most its `max_queued_events`).
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The engine's wake-up socket and the armed threads with events (see the module docs).
pub struct Wakeups {
    reader: UnixStream,
    writer: UnixStream,
    /// A byte is in the socket that Python has not taken yet.
    signaled: AtomicBool,
    /// The listed threads, in the order they were listed (weak: a thread's handle and pump
    /// own its waker).
    ready: Mutex<Vec<Weak<Waker>>>,
    /// Notified with a push while a blocking `wait` waits (`waiting` of them).
    pushed: Condvar,
    /// Blocking `wait`s asleep on `pushed`.
    waiting: AtomicUsize,
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
            pushed: Condvar::new(),
            waiting: AtomicUsize::new(0),
            next_token: AtomicU64::new(1),
        }))
    }

    /// Registers a thread's queue for engine-wide reads; returns its waker. The waker holds
    /// the queue weakly: the thread's handle owns both.
    pub fn register(self: &Arc<Self>, queue: &Arc<Receiver>, thread_id: &str) -> Arc<Waker> {
        Arc::new(Waker {
            wakeups: Arc::clone(self),
            token: self.next_token.fetch_add(1, Ordering::Relaxed),
            armed: AtomicBool::new(false),
            listed: AtomicBool::new(false),
            queue: Arc::downgrade(queue),
            thread_id: serde_json::to_string(thread_id).unwrap_or_else(|_| "\"\"".to_string()).into(),
        })
    }

    fn push(&self, waker: Weak<Waker>) {
        lock(&self.ready).push(waker);
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
    fn take(&self) -> Vec<Weak<Waker>> {
        // At most one byte is pending per signal: one read drains it (a full read means more).
        let mut sink = [0u8; 64];
        while matches!((&self.reader).read(&mut sink), Ok(n) if n == sink.len()) {}
        self.signaled.store(false, Ordering::Release);
        std::mem::take(&mut *lock(&self.ready))
    }

    /// Every listed thread's queued events, as one JSON array of
    /// `[token, thread_id, lag_s, [event, ...], ended]`: `lag_s` is how long the oldest waited in
    /// the queue; `ended` says the thread's pump is gone and every event was taken. Threads'
    /// queues are taken whole until the array passes `limit` bytes: the threads not reached are
    /// listed again for the next read. `None` when no listed thread had anything.
    pub fn take_batches(&self, limit: usize) -> Option<Vec<u8>> {
        let listed = self.take();
        if listed.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(256);
        out.push(b'[');
        let mut entries = 0usize;
        let mut not_reached = Vec::new();
        for listed in listed {
            if out.len() >= limit {
                not_reached.push(listed);
                continue;
            }
            // A thread whose handle is gone has no reader left.
            let Some(waker) = listed.upgrade() else { continue };
            let Some(queue) = waker.queue.upgrade() else { continue };
            let (token, thread_id) = (waker.token, &waker.thread_id);
            // Unlisted before the drain: an event queued after it lists the thread again.
            waker.listed.store(false, Ordering::Release);
            queue.drain(|queued, ended| {
                if queued.is_none() && !ended {
                    return;
                }
                if entries > 0 {
                    out.push(b',');
                }
                entries += 1;
                let lag = queued.map_or(0.0, |(_, at)| at.elapsed().as_secs_f64());
                // Written in place: no string made per entry.
                let _ = write!(out, "[{token},{thread_id},{lag:.9},[");
                if let Some((events, _)) = queued {
                    out.extend_from_slice(events);
                }
                // The pump is gone and every event is in this read: this reader's end.
                out.extend_from_slice(if ended { b"],true]" } else { b"],false]" });
            });
        }
        out.push(b']');
        for listed in not_reached {
            self.push(listed);
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
/// thread), a "listed" flag (it is on the ready list) and its queue, held weakly: the pump
/// holds this, not the queue's receiver, so dropping the reader ends the pump.
pub struct Waker {
    wakeups: Arc<Wakeups>,
    token: u64,
    armed: AtomicBool,
    listed: AtomicBool,
    queue: Weak<Receiver>,
    /// The codex thread id, as a JSON string (a read copies it into each entry's header).
    thread_id: Arc<str>,
}

impl Waker {
    /// Tells Python, if it follows this thread, that events (or the end) arrived.
    pub fn wake(self: &Arc<Self>) {
        if self.armed.load(Ordering::Acquire) && !self.listed.swap(true, Ordering::AcqRel) {
            self.wakeups.push(Arc::downgrade(self));
        }
    }

    /// Follows the thread from now on; `queued` lists it at once (events arrived before).
    pub fn arm(self: &Arc<Self>, queued: bool) {
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
        self.inner.take().iter().filter_map(|w| Some(w.upgrade()?.token)).collect()
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

    use crate::queue::Sender;

    fn thread(wakeups: &Arc<Wakeups>) -> (Sender, Arc<Receiver>, Arc<Waker>) {
        let (tx, rx) = crate::queue::channel(64);
        let queue = Arc::new(rx);
        let waker = wakeups.register(&queue, "t");
        (tx, queue, waker)
    }

    fn send(tx: &Sender, waker: &Arc<Waker>, n: u32) {
        tx.try_send(format!(r#"{{"n":{n}}}"#).as_bytes()).unwrap();
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
        let listed: Vec<u64> = lock(&wakeups.ready).iter().map(|w| w.upgrade().unwrap().token()).collect();
        assert_eq!(listed, vec![a.token(), b.token()]);
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
        assert_eq!(cq.len(), 3, "a disarmed thread's events were taken");
        // Listed again by the next event; the end comes with the last events.
        send(&btx, &b, 13);
        drop(btx);
        b.wake();
        assert_eq!(entries(&wakeups.take_batches(MAX_BATCH_BYTES).unwrap()), vec![(b.token(), vec![13], true)]);
        assert!(bq.is_empty());
        drop(ctx);
    }

    #[test]
    fn a_read_past_its_byte_limit_takes_no_more_threads_and_lists_the_rest_again() {
        let wakeups = Wakeups::new().unwrap();
        let (atx, _aq, a) = thread(&wakeups);
        let (btx, _bq, b) = thread(&wakeups);
        a.arm(false);
        b.arm(false);
        for n in 0..4 {
            send(&atx, &a, n);
        }
        send(&btx, &b, 100);
        // Past the limit after a's queue (taken whole): b waits for the next read.
        let got = entries(&wakeups.take_batches(20).unwrap());
        assert_eq!(got, vec![(a.token(), vec![0, 1, 2, 3], false)]);
        send(&atx, &a, 4);
        let got = entries(&wakeups.take_batches(MAX_BATCH_BYTES).unwrap());
        assert_eq!(got, vec![(b.token(), vec![100], false), (a.token(), vec![4], false)]);
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
