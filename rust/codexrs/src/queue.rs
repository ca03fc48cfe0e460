//! A thread's event queue: one byte buffer the senders append serialized events to and a read
//! takes whole.
//!
//! The pump serializes each event (into a buffer it reuses) and appends it, comma-separated,
//! to its thread's buffer; a read (the engine's `take_batches`, or the thread's own
//! `next_batch`) takes everything queued under one lock with one copy and leaves the buffer's
//! memory for the next events. So an event costs no allocation and no channel slot of its own,
//! and a read touches one buffer per thread, not one node per event.
//!
//! The bound is in events (`max_queued_events`): past it a sender waits for room (the pump
//! parks and codex-core holds the thread's next events) until a read takes the queue. The
//! reader sees the end once every sender is gone and every event was taken; a sender fails
//! once the reader is gone.

use std::sync::Arc;
use std::sync::Condvar;
use std::sync::Mutex;
use std::sync::Weak;
use std::time::Duration;
use std::time::Instant;

use tokio::sync::Notify;

use crate::wakeups::lock;

/// A buffer grown past this by a burst is given back once read (steady streams reuse theirs).
const KEEP_BYTES: usize = 64 * 1024;

struct State {
    /// The queued events, comma-separated.
    bytes: Vec<u8>,
    events: usize,
    /// When the oldest queued event was queued.
    oldest: Option<Instant>,
    senders: usize,
    reader_gone: bool,
    /// Blocking readers asleep on `arrived`.
    readers_waiting: usize,
    /// A sender found the queue full since the last read.
    sender_waits: bool,
}

struct Shared {
    state: Mutex<State>,
    max_events: usize,
    /// Senders waiting for room.
    room: Notify,
    /// Blocking readers waiting for an event or the end.
    arrived: Condvar,
}

/// A new queue holding at most `max_events` events (at least 1).
pub fn channel(max_events: usize) -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            bytes: Vec::new(),
            events: 0,
            oldest: None,
            senders: 1,
            reader_gone: false,
            readers_waiting: 0,
            sender_waits: false,
        }),
        max_events: max_events.max(1),
        room: Notify::new(),
        arrived: Condvar::new(),
    });
    (Sender { shared: Arc::clone(&shared) }, Receiver { shared, spare: Mutex::new(Vec::new()) })
}

/// Why an event was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The queue holds its most events (`try_send` only).
    Full,
    /// The reader is gone.
    Closed,
}

/// Appends events; the queue ends for the reader when the last one is dropped.
pub struct Sender {
    shared: Arc<Shared>,
}

impl Sender {
    /// Queues `event` (one JSON value), waiting while the queue is full. Fails once the reader
    /// is gone.
    pub async fn send(&self, event: &[u8]) -> Result<(), SendError> {
        loop {
            match self.try_send(event) {
                Err(SendError::Full) => {}
                done => return done,
            }
            // Registered before the check again, so a read that frees room after it wakes this.
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_send(event) {
                Err(SendError::Full) => room.await,
                done => return done,
            }
        }
    }

    /// Queues `event` if there is room, without waiting.
    pub fn try_send(&self, event: &[u8]) -> Result<(), SendError> {
        let mut state = lock(&self.shared.state);
        if state.reader_gone {
            return Err(SendError::Closed);
        }
        if state.events >= self.shared.max_events {
            state.sender_waits = true;
            return Err(SendError::Full);
        }
        if state.events == 0 {
            state.oldest = Some(Instant::now());
        } else {
            state.bytes.push(b',');
        }
        state.bytes.extend_from_slice(event);
        state.events += 1;
        if state.readers_waiting > 0 {
            self.shared.arrived.notify_all();
        }
        Ok(())
    }

    /// A sender that does not keep the queue open (a request's timer, an extension's route).
    pub fn downgrade(&self) -> WeakSender {
        WeakSender { shared: Arc::downgrade(&self.shared) }
    }
}

impl Clone for Sender {
    fn clone(&self) -> Self {
        lock(&self.shared.state).senders += 1;
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        state.senders -= 1;
        if state.senders == 0 && state.readers_waiting > 0 {
            self.shared.arrived.notify_all();
        }
    }
}

/// A [`Sender`] that does not keep the queue open.
pub struct WeakSender {
    shared: Weak<Shared>,
}

impl WeakSender {
    /// A sender, while another one still keeps the queue open.
    pub fn upgrade(&self) -> Option<Sender> {
        let shared = self.shared.upgrade()?;
        let mut state = lock(&shared.state);
        if state.senders == 0 {
            return None;
        }
        state.senders += 1;
        drop(state);
        Some(Sender { shared })
    }

    /// Whether a sender still keeps the queue open.
    pub fn is_open(&self) -> bool {
        self.shared.upgrade().is_some_and(|shared| lock(&shared.state).senders > 0)
    }
}

/// Takes the queued events; dropping it fails every sender.
pub struct Receiver {
    shared: Arc<Shared>,
    /// The buffer the next read gives the queue in exchange for its events (readers only).
    spare: Mutex<Vec<u8>>,
}

impl Receiver {
    /// Hands `read` every queued event (comma-separated) with when the oldest was queued, or
    /// `None` when none is, and whether every sender is gone (nothing follows), and empties
    /// the queue. The queue's lock is held only to swap its buffer for an empty one: senders
    /// go on (one waiting for room is woken) while `read` copies.
    pub fn drain<R>(&self, read: impl FnOnce(Option<(&[u8], Instant)>, bool) -> R) -> R {
        let mut spare = lock(&self.spare);
        let mut state = lock(&self.shared.state);
        let ended = state.senders == 0;
        let Some(oldest) = state.oldest.take().filter(|_| state.events > 0) else {
            drop(state);
            return read(None, ended);
        };
        state.events = 0;
        let mut taken = std::mem::replace(&mut state.bytes, std::mem::take(&mut *spare));
        let wake = std::mem::take(&mut state.sender_waits);
        drop(state);
        if wake {
            self.shared.room.notify_waiters();
        }
        let result = read(Some((&taken, oldest)), ended);
        // Kept for the next swap, unless a burst grew it.
        if taken.capacity() <= KEEP_BYTES {
            taken.clear();
            *spare = taken;
        }
        result
    }

    /// Blocks up to `slice` until an event is queued or every sender is gone. True if so.
    pub fn wait(&self, slice: Duration) -> bool {
        let mut state = lock(&self.shared.state);
        if state.events == 0 && state.senders > 0 {
            state.readers_waiting += 1;
            state = self
                .shared
                .arrived
                .wait_timeout(state, slice)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
            state.readers_waiting -= 1;
        }
        state.events > 0 || state.senders == 0
    }

    /// Whether no event is queued.
    pub fn is_empty(&self) -> bool {
        lock(&self.shared.state).events == 0
    }

    /// How many events are queued.
    pub fn len(&self) -> usize {
        lock(&self.shared.state).events
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        state.reader_gone = true;
        state.bytes = Vec::new();
        state.events = 0;
        drop(state);
        self.shared.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(rx: &Receiver) -> (Option<String>, bool) {
        rx.drain(|queued, ended| (queued.map(|(bytes, _)| String::from_utf8(bytes.to_vec()).unwrap()), ended))
    }

    #[test]
    fn a_read_takes_every_event_in_order_comma_separated_and_the_end_comes_after_the_last() {
        let (tx, rx) = channel(8);
        for n in 0..3 {
            tx.try_send(format!(r#"{{"n":{n}}}"#).as_bytes()).unwrap();
        }
        assert_eq!(rx.len(), 3);
        assert_eq!(drained(&rx), (Some(r#"{"n":0},{"n":1},{"n":2}"#.into()), false));
        assert_eq!(drained(&rx), (None, false), "read twice");
        tx.try_send(b"4").unwrap();
        drop(tx);
        assert_eq!(drained(&rx), (Some("4".into()), true), "the last events come with the end");
        assert_eq!(drained(&rx), (None, true));
    }

    #[test]
    fn a_full_queue_refuses_try_send_and_a_read_wakes_a_waiting_send() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (tx, rx) = channel(2);
            tx.try_send(b"1").unwrap();
            tx.try_send(b"2").unwrap();
            assert_eq!(tx.try_send(b"3"), Err(SendError::Full));
            let waiting = tokio::spawn(async move { tx.send(b"3").await.map(|()| tx) });
            tokio::task::yield_now().await;
            assert!(!waiting.is_finished(), "a send did not wait for room");
            assert_eq!(drained(&rx), (Some("1,2".into()), false));
            let tx = tokio::time::timeout(Duration::from_secs(60), waiting).await.unwrap().unwrap().unwrap();
            assert_eq!(drained(&rx), (Some("3".into()), false));
            drop(rx);
            assert_eq!(tx.try_send(b"4"), Err(SendError::Closed));
            assert_eq!(tx.send(b"4").await, Err(SendError::Closed));
        });
    }

    #[test]
    fn a_weak_sender_sends_only_while_a_strong_one_keeps_the_queue_open() {
        let (tx, rx) = channel(8);
        let weak = tx.downgrade();
        assert!(weak.is_open());
        weak.upgrade().unwrap().try_send(b"1").unwrap();
        drop(tx);
        assert!(!weak.is_open());
        assert!(weak.upgrade().is_none());
        assert_eq!(drained(&rx), (Some("1".into()), true));
    }

    #[test]
    fn a_blocking_wait_returns_for_an_event_and_for_the_end() {
        let (tx, rx) = channel(8);
        let rx = Arc::new(rx);
        assert!(!rx.wait(Duration::from_millis(1)));
        let waiting = {
            let rx = Arc::clone(&rx);
            std::thread::spawn(move || rx.wait(Duration::from_secs(60)))
        };
        tx.try_send(b"1").unwrap();
        assert!(waiting.join().unwrap());
        assert_eq!(drained(&rx), (Some("1".into()), false));
        let waiting = {
            let rx = Arc::clone(&rx);
            std::thread::spawn(move || rx.wait(Duration::from_secs(60)))
        };
        drop(tx);
        assert!(waiting.join().unwrap());
    }
}
