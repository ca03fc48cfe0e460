//! One codex-core thread seen from Python: its event pump, its bounded queue, its ops.
//!
//! A pump task pulls events from `CodexThread::next_event`, serializes each once (serde_json,
//! `{"id": <submission id>, "msg": {"type": <wire name>, ...}}`) and pushes it into a bounded
//! queue of at most `max_queued_events` events. When the queue is full the pump waits: it stops
//! pulling from codex-core, whose own (unbounded) channel keeps the rest. Nothing is dropped.
//! Python reads batches: each read takes every event already queued, as one JSON array.
//!
//! `raw_response_item` events (the whole prompt, every turn) are not serialized unless the
//! thread asked for them. Requests that wait for an answer (approvals, questions, elicitations,
//! tool calls) go through [`crate::requests`]: denied at once when Python has no handler for
//! them, otherwise pending until answered or, after the thread's `request_timeout`, denied.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::time::Instant;

use codex_core::CodexThread;
use codex_core::ThreadManager;
use codex_protocol::ThreadId;
use codex_protocol::error::CodexErr;
use codex_protocol::protocol::Event;
use codex_protocol::protocol::EventMsg;
use codex_protocol::protocol::Op;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::types::PyString;
use serde_json::json;
use tokio::sync::mpsc;

use crate::errors::CoreError;
use crate::ops;
use crate::panics;
use crate::pending::Finish;
use crate::pending::Pending;
use crate::ratelimits::RateLimits;
use crate::requests::Kind;
use crate::requests::Queued;
use crate::requests::Requests;
use crate::runtime;
use crate::wakeups::EngineWakeups;
use crate::wakeups::MAX_BATCH_BYTES;
use crate::wakeups::Queue;
use crate::wakeups::Waker;
use crate::wakeups::append_events;
use crate::wakeups::lock;

/// Every event already queued from `first` on, as one JSON array, up to [`MAX_BATCH_BYTES`].
/// Returns the array and when its oldest event (the first: the queue is FIFO) was queued.
fn batch(rx: &mut mpsc::Receiver<Queued>, first: Queued) -> (Vec<u8>, Instant) {
    let mut out = Vec::with_capacity(first.1.len() * 2 + 2);
    out.push(b'[');
    let at = append_events(&mut out, rx, first, MAX_BATCH_BYTES);
    out.push(b']');
    (out, at)
}

pub struct PumpOptions {
    pub raw_response_items: bool,
    pub requests: Arc<Requests>,
    /// The engine's rate-limit snapshots (`crate::ratelimits`), and this thread's id for them.
    pub rate_limits: Arc<RateLimits>,
    pub thread_id: String,
}

fn encode(event: &Event, thread_id: &str, rate_limits: &RateLimits) -> Vec<u8> {
    rate_limits.encode(thread_id, event).unwrap_or_else(|e| {
        // Serializing codex's own types cannot fail short of a codex bug; say so, in-stream.
        serde_json::to_vec(&json!({
            "id": event.id,
            "msg": {"type": "codexrs_encode_error", "message": e.to_string()},
        }))
        .unwrap_or_default()
    })
}

/// What the pump does after one event.
enum Flow {
    Continue,
    Stop,
}

/// Pulls codex-core's events into the queue until the thread ends or the reader is gone.
///
/// A panic attributed to this thread (see [`crate::panics`]), in codex-core's turn task or in
/// the pump's own handling of an event, queues a `codexrs_panic` event for the turn it hit and
/// interrupts that turn in codex-core; the pump goes on.
pub async fn pump(
    thread: Arc<CodexThread>,
    tx: mpsc::Sender<Queued>,
    waker: Arc<Waker>,
    options: PumpOptions,
) {
    let mut panics = panics::register(&options.thread_id);
    // The running turn (codex's `task_started` .. `task_complete` / `turn_aborted`).
    let mut turn: Option<String> = None;
    loop {
        let event = tokio::select! {
            biased;
            Some(panicked) = panics.recv() => {
                let turn_id = panicked.turn_id.clone().or_else(|| turn.clone());
                if !report_panic(&thread, &tx, &waker, panicked, turn_id).await {
                    break;
                }
                continue;
            }
            next = thread.next_event() => match next {
                Ok(event) => event,
                Err(_) => break, // codex-core closed the thread's event channel
            },
        };
        match &event.msg {
            EventMsg::TurnStarted(started) => turn = Some(started.turn_id.clone()),
            EventMsg::TurnComplete(_) | EventMsg::TurnAborted(_) => turn = None,
            _ => {}
        }
        let step = std::panic::AssertUnwindSafe(pump_one(&thread, event, &tx, &waker, &options));
        match futures::FutureExt::catch_unwind(step).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Stop) => break,
            Err(payload) => {
                let panicked = panics::Panicked {
                    message: format!("codexrs's event pump: {}", panics::payload_text(&*payload)),
                    location: None,
                    turn_id: None,
                };
                if !report_panic(&thread, &tx, &waker, panicked, turn.clone()).await {
                    break;
                }
            }
        }
    }
    panics::unregister(&options.thread_id);
    drop(tx);
    waker.wake();
}

/// Queues one event (and codexrs's answer to it, if it is a request codexrs denied).
async fn pump_one(
    thread: &Arc<CodexThread>,
    event: Event,
    tx: &mpsc::Sender<Queued>,
    waker: &Arc<Waker>,
    options: &PumpOptions,
) -> Flow {
    if matches!(event.msg, EventMsg::RawResponseItem(_)) && !options.raw_response_items {
        return Flow::Continue;
    }
    if matches!(event.msg, EventMsg::TurnStarted(_)) && panics::take_armed(panics::Place::Pump, &options.thread_id) {
        panic!("codexrs test fault: a panic inside the event pump");
    }
    let is_end = matches!(event.msg, EventMsg::ShutdownComplete);
    let denial = options.requests.on_event(thread, &event, tx, waker).await;
    if tx.send((Instant::now(), encode(&event, &options.thread_id, &options.rate_limits))).await.is_err() {
        return Flow::Stop;
    }
    if let Some(denial) = denial {
        if tx.send((Instant::now(), denial)).await.is_err() {
            return Flow::Stop;
        }
    }
    waker.wake();
    if is_end { Flow::Stop } else { Flow::Continue }
}

/// Fails the turn a panic hit: queues `codexrs_panic` (its id the turn's, so Python ends that
/// turn as `failed`) and interrupts the turn in codex-core, whose task may be dead, so the
/// thread takes new turns. Returns false when the reader is gone.
async fn report_panic(
    thread: &Arc<CodexThread>,
    tx: &mpsc::Sender<Queued>,
    waker: &Arc<Waker>,
    panicked: panics::Panicked,
    turn_id: Option<String>,
) -> bool {
    let interrupted = match &turn_id {
        Some(_) => thread.submit(Op::Interrupt).await.map(|_| ()).map_err(|e| e.to_string()),
        None => Err("no turn was running".to_string()),
    };
    let turn_id = turn_id.unwrap_or_default();
    let bytes = serde_json::to_vec(&json!({
        "id": turn_id,
        "msg": {
            "type": "codexrs_panic",
            "turn_id": turn_id,
            "message": panicked.message,
            "location": panicked.location,
            "interrupted": interrupted.is_ok(),
            "interrupt_error": interrupted.err(),
        },
    }))
    .unwrap_or_default();
    let sent = tx.send((Instant::now(), bytes)).await.is_ok();
    waker.wake();
    sent
}

/// A loaded codex-core thread (Python: `codexrs._native.ThreadHandle`).
#[pyclass(module = "codexrs._native", frozen)]
pub struct ThreadHandle {
    pub(crate) id: ThreadId,
    pub(crate) thread: Arc<CodexThread>,
    pub(crate) rx: Arc<Queue>,
    /// Nanoseconds the last batch's oldest event waited in the queue (`last_batch_lag`).
    pub(crate) lag_ns: AtomicU64,
    pub(crate) waker: Arc<Waker>,
    /// The queue's bound (events), also what Python holds of the thread before it disarms it.
    pub(crate) max_queued_events: usize,
    pub(crate) requests: Arc<Requests>,
    pub(crate) session_configured: Vec<u8>,
    /// The engine's manager, to unload the thread on shutdown (it keeps every thread it
    /// started until told otherwise).
    pub(crate) manager: std::sync::Weak<ThreadManager>,
}

fn submit_error(what: &'static str, id: ThreadId, err: CodexErr) -> CoreError {
    match err {
        CodexErr::InternalAgentDied => CoreError::Closed(format!("{what}: thread {id} has shut down")),
        other => CoreError::Codex(format!("{what}: {other}")),
    }
}

impl ThreadHandle {
    /// Submits `op` as a [`Pending`] whose result is the submission id (a str): the sync side
    /// waits on it without the GIL, asyncio awaits it without blocking its loop.
    fn submit_pending(&self, what: &'static str, op: Op) -> PyResult<Pending> {
        let thread = Arc::clone(&self.thread);
        let id = self.id;
        Pending::spawn(what, async move {
            let submission = thread.submit(op).await.map_err(|e| submit_error(what, id, e))?;
            let finish: Finish = Box::new(move |py| Ok(PyString::new(py, &submission).into_any().unbind()));
            Ok(finish)
        })
        .map_err(CoreError::into_pyerr)
    }
}

#[pymethods]
impl ThreadHandle {
    /// The codex thread id (a UUID string).
    #[getter]
    fn id(&self) -> String {
        self.id.to_string()
    }

    /// codex-core's `session_configured` event for this thread, as JSON bytes.
    #[getter]
    fn session_configured<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.session_configured)
    }

    /// Blocks (without the GIL) until at least one event is queued, then returns every queued
    /// event as one JSON array. `None` after `timeout` seconds. Raises `EngineClosedError` once
    /// the thread has ended and every event was read.
    #[pyo3(signature = (timeout=None))]
    fn next_batch<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        if let Some(bytes) = self.try_next_batch(py)? {
            return Ok(Some(bytes));
        }
        let handle = runtime::handle()?;
        let deadline = runtime::deadline(timeout);
        loop {
            let slice = runtime::slice(deadline);
            let rx = Arc::clone(&self.rx);
            let handle = handle.clone();
            let got: Option<Option<(Vec<u8>, Instant)>> = py.detach(move || {
                let mut rx = lock(&rx);
                handle.block_on(async {
                    match tokio::time::timeout(slice, rx.recv()).await {
                        Ok(Some(first)) => Some(Some(batch(&mut rx, first))),
                        Ok(None) => Some(None),
                        Err(_) => None,
                    }
                })
            });
            match got {
                Some(Some((bytes, at))) => {
                    self.taken(at);
                    return Ok(Some(PyBytes::new(py, &bytes)));
                }
                Some(None) => return Err(self.closed()),
                None => {}
            }
            py.check_signals()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// Every queued event as one JSON array, or `None` if none is queued. Never blocks.
    /// Raises `EngineClosedError` once the thread has ended and every event was read.
    fn try_next_batch<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut rx = lock(&self.rx);
        match rx.try_recv() {
            Ok(first) => {
                let (bytes, at) = batch(&mut rx, first);
                drop(rx);
                self.taken(at);
                Ok(Some(PyBytes::new(py, &bytes)))
            }
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => Err(self.closed()),
        }
    }

    /// Seconds the oldest event of the last batch read waited between the pump taking it from
    /// codex-core and Python reading the batch (0.0 before the first batch).
    #[getter]
    fn last_batch_lag(&self) -> f64 {
        self.lag_ns.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// Follows the thread through its engine's wake-ups (asyncio readers, all-threads
    /// consumers): from now on its events are listed for `EngineWakeups.take_batches()`, at
    /// once if some are queued already. Stays armed until `disarm()`.
    fn arm(&self) {
        let queued = !lock(&self.rx).is_empty();
        self.waker.arm(queued);
    }

    /// Stops following the thread (back-pressure: Python holds enough of its events). Its
    /// events stay queued in order; once the queue is full its pump waits.
    fn disarm(&self) {
        self.waker.disarm();
    }

    /// The most events the thread's queue holds (`max_queued_events`).
    #[getter]
    fn max_queued_events(&self) -> usize {
        self.max_queued_events
    }

    /// This thread's token in its engine's wake-ups.
    fn token(&self) -> u64 {
        self.waker.token()
    }

    /// The engine's wake-up descriptor, shared by its threads (`crate::wakeups`).
    fn wakeups(&self) -> EngineWakeups {
        self.waker.engine_wakeups()
    }

    /// Submits user input (a JSON list of codex `UserInput` items), as a `Pending` whose result
    /// is the id of the turn it starts (codex-core's submission id, equal to
    /// `task_started.turn_id`). `settings_json`: settings for this turn and the ones after
    /// (`model`, `effort`, `summary`, `approval_policy`, `sandbox`, `cwd`);
    /// `output_schema_json`: a JSON Schema the final message must follow.
    #[pyo3(signature = (items_json, settings_json=None, output_schema_json=None))]
    fn submit_input(&self, items_json: &str, settings_json: Option<&str>, output_schema_json: Option<&str>) -> PyResult<Pending> {
        let op = ops::user_input(items_json, settings_json, output_schema_json, self.manager.upgrade().as_deref())?;
        self.submit_pending("user input", op)
    }

    /// Submits a thread operation (`settings`, `compact`, `rollback`, `review`, `shell`; see
    /// `crate::ops`), as a `Pending` whose result is its submission id: its events carry it.
    fn submit_op(&self, kind: &str, args_json: &str) -> PyResult<Pending> {
        let op = ops::thread_op(kind, args_json, self.manager.upgrade().as_deref())?;
        self.submit_pending("thread operation", op)
    }

    /// Adds input to the running turn `expected_turn_id` (codex `steer_input`): the model's
    /// next request within that turn carries it. A `Pending` whose result is the turn id; it
    /// raises `TurnNotSteerableError` when that turn has ended (or cannot be steered).
    fn steer(&self, items_json: &str, expected_turn_id: String) -> PyResult<Pending> {
        let items = ops::input_items(items_json)?;
        let thread = Arc::clone(&self.thread);
        Pending::spawn("steer", async move {
            let turn_id = thread
                .steer_input(items, Default::default(), Some(&expected_turn_id), None, None)
                .await
                .map_err(|e| CoreError::NotSteerable(ops::steer_error(e)))?;
            let finish: Finish = Box::new(move |py| Ok(PyString::new(py, &turn_id).into_any().unbind()));
            Ok(finish)
        })
        .map_err(CoreError::into_pyerr)
    }

    /// Submits `Op::Interrupt` (the running turn ends with `turn_aborted`), as a `Pending`
    /// that is done once codex-core accepted it.
    fn interrupt(&self) -> PyResult<Pending> {
        self.submit_pending("interrupt", Op::Interrupt)
    }

    /// Submits `Op::Interrupt` and returns at once, without waiting for codex-core to accept
    /// it (for a reader that went away: garbage collection, a cancelled task). A thread that
    /// has already shut down needs no interrupt, so a failed submission is ignored.
    ///
    /// The op is queued before this returns when codex-core's submission channel has room (it
    /// nearly always has; only a full channel defers it to a task): codex-core runs a thread's
    /// ops in order, so an op submitted after this call (the thread's next turn) comes after
    /// the interrupt, which then finds the old turn or nothing running, never the new turn.
    fn interrupt_nowait(&self) -> PyResult<()> {
        let submit = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(self.thread.submit(Op::Interrupt)));
        if futures::FutureExt::now_or_never(submit).is_some() {
            return Ok(()); // queued, or the thread is gone (or codex-core panicked): ignored
        }
        let thread = Arc::clone(&self.thread);
        runtime::handle()?.spawn(panics::contained("a thread op", async move {
            let _ = thread.submit(Op::Interrupt).await;
        }));
        Ok(())
    }

    /// Answers a pending request: `kind` (`exec`, `patch`, `permissions`, `user_input`,
    /// `elicitation`, `dynamic_tool`), `key` (the id codex expects: see `codexrs.requests`),
    /// `answer_json` (the kind's codex answer). A `Pending` whose result is `True` once
    /// codex-core accepted the answer, `False` (nothing sent) when the request is not pending
    /// (it was answered, denied at its timeout, or never asked). An answer that is not the
    /// kind's codex type denies the request (fail closed) and raises `ConfigError` at once.
    fn respond(&self, kind: &str, key: &str, answer_json: &str) -> PyResult<Pending> {
        let op = match self.answer_op(kind, key, answer_json)? {
            None => None,
            Some(op) => Some(op?),
        };
        let thread = Arc::clone(&self.thread);
        let id = self.id;
        Pending::spawn("request answer", async move {
            let sent = match op {
                None => false,
                Some(op) => {
                    thread.submit(op).await.map_err(|e| submit_error("request answer", id, e))?;
                    true
                }
            };
            let finish: Finish = Box::new(move |py| Ok(pyo3::types::PyBool::new(py, sent).to_owned().into_any().unbind()));
            Ok(finish)
        })
        .map_err(CoreError::into_pyerr)
    }

    /// Refuses a pending request with `reason` (codexrs's denial for its kind: see
    /// `crate::requests`), without blocking: a handler that raised or returned junk. Returns
    /// whether it was pending.
    fn deny(&self, kind: &str, key: &str, reason: String) -> PyResult<bool> {
        let kind = Kind::parse(kind).map_err(CoreError::into_pyerr)?;
        let Some(request) = self.requests.take(kind, key) else {
            return Ok(false);
        };
        let thread = Arc::clone(&self.thread);
        runtime::handle()?.spawn(panics::contained("a thread op", async move {
            let _ = thread.submit(request.denial(&reason)).await;
        }));
        Ok(true)
    }

    /// Whether Python answers requests of `kind` (else codexrs denies them at once).
    fn handles(&self, kind: &str) -> PyResult<bool> {
        Ok(self.requests.handles(Kind::parse(kind).map_err(CoreError::into_pyerr)?))
    }

    /// Sets whether Python answers requests of `kind`.
    fn set_handled(&self, kind: &str, on: bool) -> PyResult<()> {
        self.requests.set_handled(Kind::parse(kind).map_err(CoreError::into_pyerr)?, on);
        Ok(())
    }

    /// Shuts the thread down (`Op::Shutdown`, then waits for codex-core to finish it) and
    /// unloads it from the engine's `ThreadManager`.
    fn shutdown(&self) -> PyResult<Pending> {
        let thread = Arc::clone(&self.thread);
        let manager = self.manager.clone();
        let id = self.id;
        Pending::spawn("thread shutdown", async move {
            // The pump ends by itself on shutdown_complete, after queueing it.
            let result = thread.shutdown_and_wait().await;
            if let Some(manager) = manager.upgrade() {
                manager.remove_thread(&id).await;
            }
            result.map_err(|e| CoreError::Codex(format!("thread shutdown: {e}")))?;
            let finish: Finish = Box::new(|py| Ok(py.None()));
            Ok(finish)
        })
        .map_err(CoreError::into_pyerr)
    }
}

impl ThreadHandle {
    /// The op answering pending request (`kind`, `key`): `None` if it is not pending;
    /// `Some(Err)` for a junk answer, after denying the request (fail closed).
    fn answer_op(&self, kind: &str, key: &str, answer_json: &str) -> PyResult<Option<PyResult<Op>>> {
        let kind = Kind::parse(kind).map_err(CoreError::into_pyerr)?;
        let Some(request) = self.requests.take(kind, key) else {
            return Ok(None);
        };
        Ok(Some(match request.answer(answer_json) {
            Ok(op) => Ok(op),
            Err(err) => {
                let thread = Arc::clone(&self.thread);
                let denial = request.denial("denied by codexrs: the handler's answer was not valid");
                runtime::handle()?.spawn(panics::contained("a thread op", async move {
                    let _ = thread.submit(denial).await;
                }));
                Err(err.into_pyerr())
            }
        }))
    }

    fn taken(&self, at: Instant) {
        let waited = u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.lag_ns.store(waited, Ordering::Relaxed);
    }

    fn closed(&self) -> PyErr {
        CoreError::Closed(format!("thread {} has ended: every event was read", self.id)).into_pyerr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_every_queued_event_as_one_json_array() {
        let (tx, mut rx) = mpsc::channel(8);
        for n in 0..5 {
            tx.try_send((Instant::now(), format!(r#"{{"n":{n}}}"#).into_bytes())).unwrap();
        }
        let first = rx.try_recv().unwrap();
        let queued_at = first.0;
        let (bytes, oldest) = batch(&mut rx, first);
        assert_eq!(oldest, queued_at);
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed.len(), 5);
        assert_eq!(parsed[4]["n"], 4);
        assert!(rx.try_recv().is_err(), "the batch left events behind");
    }

    #[test]
    fn a_batch_stops_past_its_byte_limit_and_leaves_the_rest_queued_in_order() {
        let (tx, mut rx) = mpsc::channel(8);
        // Three JSON strings of half the limit each, then a small event.
        let half = format!(r#""{}""#, "x".repeat(MAX_BATCH_BYTES / 2 - 2)).into_bytes();
        for _ in 0..3 {
            tx.try_send((Instant::now(), half.clone())).unwrap();
        }
        tx.try_send((Instant::now(), br#"{"n":4}"#.to_vec())).unwrap();
        let first = rx.try_recv().unwrap();
        let (bytes, _) = batch(&mut rx, first);
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed.len(), 2, "the first batch went past the limit by more than one event");
        let next = rx.try_recv().unwrap();
        let (bytes, _) = batch(&mut rx, next);
        let parsed: Vec<serde_json::Value> = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(parsed.len(), 2, "the second batch lost the events the first left behind");
        assert_eq!(parsed[0].as_str().map(str::len), Some(MAX_BATCH_BYTES / 2 - 2));
        assert_eq!(parsed[1]["n"], 4);
        assert!(rx.try_recv().is_err());
    }
}
