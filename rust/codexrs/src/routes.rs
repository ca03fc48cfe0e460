//! Where extension events go: codex's extensions (goals, ...) emit events to the engine, not
//! to a thread; [`Routes`] puts each into the queue of the thread it names.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::Weak;

use codex_extension_api::ExtensionEventSink;
use codex_protocol::protocol::Event;
use codex_protocol::protocol::EventMsg;
use tokio::sync::mpsc;

use crate::requests::Queued;
use crate::wakeups::Waker;

/// Where extension events (goal updates, ...) go: the queue of the thread they name. Holds
/// only weak references, so a finished thread's queue and waker are freed; dead
/// entries are pruned whenever a thread is added.
#[derive(Default)]
pub(crate) struct Routes {
    threads: Mutex<HashMap<String, (mpsc::WeakSender<Queued>, Weak<Waker>)>>,
}

impl Routes {
    pub(crate) fn add(&self, thread_id: String, tx: &mpsc::Sender<Queued>, waker: &Arc<Waker>) {
        let mut threads = self.threads.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        threads.retain(|_, (tx, _)| tx.strong_count() > 0);
        threads.insert(thread_id, (tx.downgrade(), Arc::downgrade(waker)));
    }
}

impl ExtensionEventSink for Routes {
    fn emit(&self, event: Event) {
        let thread_id = match &event.msg {
            EventMsg::ThreadGoalUpdated(update) => update.thread_id.to_string(),
            other => {
                tracing::warn!("codexrs: an extension emitted a {other} event that names no thread; not delivered");
                return;
            }
        };
        let target = self
            .threads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&thread_id)
            .and_then(|(tx, waker)| Some((tx.upgrade()?, waker.upgrade()?)));
        let Some((tx, waker)) = target else {
            tracing::warn!("codexrs: extension event for thread {thread_id}, which is not loaded");
            return;
        };
        let Ok(bytes) = serde_json::to_vec(&event) else { return };
        match tx.try_send((std::time::Instant::now(), bytes)) {
            Ok(()) => waker.wake(),
            Err(mpsc::error::TrySendError::Full(bytes)) => {
                // Keep order-insensitive extension events without blocking codex: wait for room.
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    handle.spawn(crate::panics::contained("an extension event's delivery", async move {
                        if tx.send(bytes).await.is_ok() {
                            waker.wake();
                        }
                    }));
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use codex_protocol::protocol::ThreadGoal;
    use codex_protocol::protocol::ThreadGoalStatus;
    use codex_protocol::protocol::ThreadGoalUpdatedEvent;

    use std::time::Duration;

    use codex_protocol::ThreadId;

    use super::*;
    use crate::wakeups::Wakeups;

    fn goal_updated(thread_id: ThreadId) -> Event {
        let goal = ThreadGoal {
            thread_id,
            objective: "ship it".into(),
            status: ThreadGoalStatus::Active,
            token_budget: None,
            tokens_used: 0,
            time_used_seconds: 0,
            created_at: 0,
            updated_at: 0,
        };
        Event { id: String::new(), msg: EventMsg::ThreadGoalUpdated(ThreadGoalUpdatedEvent { thread_id, turn_id: None, goal }) }
    }

    #[tokio::test]
    async fn an_extension_event_for_a_full_queue_waits_for_room_instead_of_being_dropped() {
        let (_unused_tx, unused_rx) = mpsc::channel::<Queued>(1);
        let waker = Wakeups::new().unwrap().register(&std::sync::Arc::new(std::sync::Mutex::new(unused_rx)), "t");
        let (tx, mut rx) = mpsc::channel::<Queued>(1);
        let routes = Routes::default();
        let thread_id = ThreadId::new();
        routes.add(thread_id.to_string(), &tx, &waker);
        tx.try_send((std::time::Instant::now(), br#"{"first":true}"#.to_vec())).unwrap();
        routes.emit(goal_updated(thread_id)); // the queue is full: codex must not block here
        let (_, first) = rx.recv().await.unwrap();
        assert_eq!(first, br#"{"first":true}"#.to_vec());
        let (_, delivered) = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("the extension event was dropped")
            .unwrap();
        let event: serde_json::Value = serde_json::from_slice(&delivered).unwrap();
        assert_eq!(event["msg"]["type"], "thread_goal_updated", "{event}");
        assert_eq!(event["msg"]["goal"]["objective"], "ship it", "{event}");
    }
}
