//! Honest rate limits: the engine's latest real snapshots, carried into `token_count` events
//! that have none, and snapshots a host injects, each marked with where it came from.
//!
//! Injection happens where events are serialized (once, in Rust). A `token_count` event's
//! `rate_limits` gets a `source` field:
//! - `"provider"`: codex-core parsed it from this thread's response headers; the engine keeps
//!   it (per limit id) with the thread and the time it was observed;
//! - `"injected:<name>"`: the event had none and the host registered a source named `<name>`
//!   (`Engine.set_rate_limit_source`); its snapshot goes in, with `observed_at`;
//! - `"carried"`: the event had none, no source is registered, and the engine has a real
//!   snapshot from any of its threads: the latest goes in, with `observed_at` and
//!   `observed_thread_id`.
//! With none of these the event's `rate_limits` is null: nothing is ever invented.
//!
//! With ChatGPT auth the host can also ask codex's backend for the account's current limits
//! (`crate::account::fetch_rate_limits`); that snapshot is kept apart, marked `"backend"` with
//! when it was fetched, and listed by `current()` (not carried into events: it describes the
//! account, not a response). (codex-core
//! reports an empty snapshot, no window and no credits, for a response without rate-limit
//! headers; codexrs treats it as none.)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;
use std::time::UNIX_EPOCH;

use codex_protocol::protocol::Event;
use codex_protocol::protocol::EventMsg;
use serde_json::Value;
use serde_json::json;

#[derive(Clone)]
struct Observed {
    snapshot: Value,
    thread_id: String,
    observed_at: f64,
}

#[derive(Default)]
pub struct RateLimits {
    /// The latest real snapshot per limit id (`"codex"` when codex names none).
    latest: Mutex<HashMap<String, Observed>>,
    /// The host's source: its name, snapshot and when it was set.
    injected: Mutex<Option<(String, Value, f64)>>,
    /// The latest snapshot fetched from codex's backend, and when.
    backend: Mutex<Option<(Value, f64)>>,
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RateLimits {
    /// Registers (or, with `None`, removes) the host's snapshot source.
    pub fn set_source(&self, source: Option<(String, Value)>) {
        *lock(&self.injected) = source.map(|(name, snapshot)| (name, snapshot, now()));
    }

    /// The latest real snapshots, by limit id, each with its source, thread and time.
    pub fn current(&self) -> Value {
        let latest = lock(&self.latest);
        let mut out = serde_json::Map::new();
        for (limit, observed) in latest.iter() {
            out.insert(limit.clone(), Self::marked(observed.snapshot.clone(), "provider", observed));
        }
        if let Some((source, snapshot)) = self.injected_snapshot() {
            out.insert(source, snapshot);
        }
        if let Some(snapshot) = self.backend_snapshot() {
            out.insert("backend".into(), snapshot);
        }
        Value::Object(out)
    }

    /// Keeps a snapshot fetched from codex's backend (see the module docs).
    pub fn set_backend(&self, snapshot: Value) {
        *lock(&self.backend) = Some((snapshot, now()));
    }

    /// The backend's latest snapshot, marked `"backend"` with when it was fetched.
    pub fn backend_snapshot(&self) -> Option<Value> {
        let (mut snapshot, at) = lock(&self.backend).clone()?;
        if let Value::Object(map) = &mut snapshot {
            map.insert("source".into(), json!("backend"));
            map.insert("observed_at".into(), json!(at));
        }
        Some(snapshot)
    }

    /// The host source's snapshot, marked `injected:<name>` with when it was set, and that source.
    fn injected_snapshot(&self) -> Option<(String, Value)> {
        let (name, mut snapshot, at) = lock(&self.injected).clone()?;
        let source = format!("injected:{name}");
        if let Value::Object(map) = &mut snapshot {
            map.insert("source".into(), json!(source));
            map.insert("observed_at".into(), json!(at));
        }
        Some((source, snapshot))
    }

    fn marked(mut snapshot: Value, source: &str, observed: &Observed) -> Value {
        if let Value::Object(map) = &mut snapshot {
            map.insert("source".into(), json!(source));
            map.insert("observed_at".into(), json!(observed.observed_at));
            map.insert("observed_thread_id".into(), json!(observed.thread_id));
        }
        snapshot
    }

    /// Serializes `event`; a `token_count` gets its `rate_limits` marked or filled as above.
    pub fn encode(&self, thread_id: &str, event: &Event) -> serde_json::Result<Vec<u8>> {
        let EventMsg::TokenCount(count) = &event.msg else {
            return serde_json::to_vec(event);
        };
        let mut value = serde_json::to_value(event)?;
        let Some(msg) = value.get_mut("msg").and_then(Value::as_object_mut) else {
            return serde_json::to_vec(&value);
        };
        // codex-core reports a snapshot with nothing in it (no window, no credits) when the
        // response had no rate-limit headers: that is no snapshot.
        let real = count.rate_limits.as_ref().filter(|r| {
            r.primary.is_some()
                || r.secondary.is_some()
                || r.credits.is_some()
                || r.individual_limit.is_some()
                || r.rate_limit_reached_type.is_some()
        });
        let filled = match real {
            Some(_) => {
                let observed = Observed {
                    snapshot: msg.get("rate_limits").cloned().unwrap_or(Value::Null),
                    thread_id: thread_id.to_string(),
                    observed_at: now(),
                };
                let limit = real.and_then(|r| r.limit_id.clone()).unwrap_or_else(|| "codex".into());
                let marked = Self::marked(observed.snapshot.clone(), "provider", &observed);
                lock(&self.latest).insert(limit, observed);
                Some(marked)
            }
            None => {
                if let Some((_, snapshot)) = self.injected_snapshot() {
                    Some(snapshot)
                } else {
                    let latest = lock(&self.latest);
                    latest
                        .values()
                        .max_by(|a, b| a.observed_at.total_cmp(&b.observed_at))
                        .map(|observed| Self::marked(observed.snapshot.clone(), "carried", observed))
                }
            }
        };
        msg.insert("rate_limits".into(), filled.unwrap_or(Value::Null));
        serde_json::to_vec(&value)
    }
}
