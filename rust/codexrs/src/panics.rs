//! Panics inside the process: recorded, sent to Python `logging`, and turned into a failed turn.
//!
//! A subprocess SDK gets containment from the operating system; in-process, a panic in a tokio
//! task (codex-core's turn task, codexrs's event pump) kills only that task, silently: the turn
//! would never end. So codexrs installs one panic hook for its extension (each Rust extension
//! has its own copy of `std`, so this touches no other library's panics):
//!
//! - the panic's message, location and worker thread go to the `codexrs.core.panic` logger
//!   through the log bridge, never raw to stderr (one line there only if the bridge is off);
//! - the codex thread it belongs to is read from the `tracing` spans around it (codex-core's
//!   `turn` span carries `thread.id` and `turn.id`, codexrs's pump span `thread_id`), and that
//!   thread's pump is told ([`register`]): it queues a `codexrs_panic` event for the turn (which
//!   Python ends as `failed`) and interrupts the turn in codex-core, so the thread takes new
//!   turns and the engine's other threads never notice.
//!
//! Tests reach both places a panic matters through [`inject`] (a private `_native` function):
//! `"turn"` panics inside codex-core's turn task (in a token-usage contributor codex calls while
//! the turn runs), `"pump"` inside codexrs's pump. Nothing happens unless a test armed it.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::Mutex;
use std::sync::Once;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;

use codex_extension_api::ExtensionData;
use codex_extension_api::ExtensionFuture;
use codex_extension_api::TokenUsageContributor;
use codex_protocol::protocol::TokenUsageInfo;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use tokio::sync::mpsc;

/// A panic attributed to one codex thread, for its pump.
#[derive(Debug, Clone)]
pub struct Panicked {
    pub message: String,
    pub location: Option<String>,
    /// The turn whose span was around the panic, if any.
    pub turn_id: Option<String>,
}

/// Each loaded thread's pump, by codex thread id.
static ROUTES: LazyLock<Mutex<HashMap<String, mpsc::UnboundedSender<Panicked>>>> = LazyLock::new(Default::default);

/// The text of a panic's payload (`panic!("...")` gives a `&str` or a `String`).
pub fn payload_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

/// Installs codexrs's panic hook (once per process).
pub fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(on_panic)));
}

fn on_panic(info: &std::panic::PanicHookInfo<'_>) {
    let message = payload_text(info.payload());
    let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
    let (thread_id, turn_id) = crate::logs::current_ids();
    let worker = std::thread::current().name().unwrap_or("an unnamed thread").to_string();
    let text = format!("panic on {worker}: {message}");
    let mut fields = vec![("worker".to_string(), worker)];
    if let Some(at) = &location {
        fields.push(("location".to_string(), at.clone()));
    }
    if !crate::logs::push_record(1, "panic", text, fields, thread_id.clone(), turn_id.clone()) {
        // No log bridge (CODEXRS_LOG_BRIDGE=0): one line, never a backtrace.
        eprintln!("codexrs: panic: {message} (at {})", location.as_deref().unwrap_or("an unknown place"));
    }
    if let Some(thread_id) = thread_id {
        let routes = ROUTES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(pump) = routes.get(&thread_id) {
            let _ = pump.send(Panicked { message, location, turn_id });
        }
    }
}

/// Registers a thread's pump: panics attributed to `thread_id` arrive on the receiver.
pub fn register(thread_id: &str) -> mpsc::UnboundedReceiver<Panicked> {
    let (tx, rx) = mpsc::unbounded_channel();
    ROUTES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(thread_id.to_string(), tx);
    rx
}

/// Removes a thread's pump (it ended).
pub fn unregister(thread_id: &str) {
    ROUTES.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(thread_id);
}

/// `fut`, contained: a panic in it is reported (by the hook, to logging, and here with `what`)
/// and ends only this future. Every task codexrs detaches runs through it.
pub async fn contained<F>(what: &'static str, fut: F)
where
    F: std::future::Future<Output = ()>,
{
    use futures::FutureExt;
    if let Err(payload) = std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        tracing::error!(target: "codexrs::panic", "{what} panicked and was stopped: {}", payload_text(&*payload));
    }
}

// ---- test-only fault points -------------------------------------------------------------

/// Where [`inject`] makes the next panic happen.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Place {
    /// Inside codex-core's turn task (when the turn next records token usage).
    Turn,
    /// Inside codexrs's event pump (when it next handles a turn's `task_started`).
    Pump,
}

static ANY_ARMED: AtomicBool = AtomicBool::new(false);
static ARMED: Mutex<Vec<(Place, String)>> = Mutex::new(Vec::new());

/// Whether a panic was armed at `place` for `thread_id` (disarming it).
pub fn take_armed(place: Place, thread_id: &str) -> bool {
    if !ANY_ARMED.load(Ordering::Relaxed) {
        return false;
    }
    let mut armed = ARMED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let found = armed.iter().position(|(p, t)| *p == place && t == thread_id);
    if let Some(index) = found {
        armed.remove(index);
    }
    ANY_ARMED.store(!armed.is_empty(), Ordering::Relaxed);
    found.is_some()
}

/// Test only: makes the next turn of thread `thread_id` panic at `place` (`"turn"`: inside
/// codex-core's turn task; `"pump"`: inside codexrs's event pump).
///
/// Raises ValueError for another place.
#[pyfunction]
#[pyo3(name = "_inject_panic")]
pub fn inject(place: &str, thread_id: String) -> PyResult<()> {
    let place = match place {
        "turn" => Place::Turn,
        "pump" => Place::Pump,
        other => return Err(PyValueError::new_err(format!("no fault point {other:?} (expected 'turn' or 'pump')"))),
    };
    ARMED.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((place, thread_id));
    ANY_ARMED.store(true, Ordering::Relaxed);
    Ok(())
}

/// The `"turn"` fault point: a token-usage contributor, which codex-core calls from inside the
/// turn's task. Inert unless a test armed it.
pub struct TurnFaultPoint;

impl TokenUsageContributor for TurnFaultPoint {
    fn on_token_usage<'a>(
        &'a self,
        _session_store: &'a ExtensionData,
        _thread_store: &'a ExtensionData,
        _turn_store: &'a ExtensionData,
        _token_usage: &'a TokenUsageInfo,
    ) -> ExtensionFuture<'a, ()> {
        Box::pin(async move {
            if ANY_ARMED.load(Ordering::Relaxed) {
                if let (Some(thread_id), _) = crate::logs::current_ids() {
                    if take_armed(Place::Turn, &thread_id) {
                        panic!("codexrs test fault: a panic inside codex-core's turn task");
                    }
                }
            }
        })
    }
}

/// The contributor to install in each engine's extension registry.
pub fn turn_fault_point() -> Arc<dyn TokenUsageContributor> {
    Arc::new(TurnFaultPoint)
}

/// Whether this build has Rust debug assertions on (the shipped build must not).
#[pyfunction]
pub fn debug_assertions() -> bool {
    cfg!(debug_assertions)
}
