//! Loading threads into an engine: `thread_start`, `thread_resume` (a stored thread with its
//! history) and `thread_fork` (a stored thread's history as a new thread), each ending in
//! [`attach`], which gives the codex thread its pump, bounded queue and request registry.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use codex_core::ForkSnapshot;
use codex_core::NewThread;
use codex_protocol::dynamic_tools::DynamicToolSpec;
use pyo3::prelude::*;
use tokio::sync::mpsc;

use crate::config::ThreadOptions;
use crate::config::parse_approval_policy;
use crate::config::parse_overrides;
use crate::config::parse_sandbox;
use crate::engine::Inner;
use crate::errors::CoreError;
use crate::errors::CoreResult;
use crate::pending::Finish;
use crate::pending::Pending;
use crate::requests::Kind;
use crate::requests::Requests;
use crate::store;
use crate::thread::PumpOptions;
use crate::thread::ThreadHandle;

/// Options of one `thread_start` call, parsed before any work starts.
pub(crate) struct ThreadStart {
    options: ThreadOptions,
    max_queued_events: usize,
    raw_response_items: bool,
    handled: Vec<Kind>,
    request_timeout: Option<Duration>,
    /// Python functions offered to the model (codex dynamic tools); `thread_start` only: a
    /// resumed or forked thread gets its tools back from its rollout.
    pub(crate) tools: Vec<DynamicToolSpec>,
}

pub(crate) async fn start_thread(inner: Arc<Inner>, mut start: ThreadStart) -> CoreResult<ThreadHandle> {
    inner.check_open()?;
    let mut config = inner.settings.build(&start.options).await?;
    crate::account::check_credentials(&inner, &mut config).await?;
    let tools = std::mem::take(&mut start.tools);
    let new = if tools.is_empty() {
        inner.manager.start_thread(config).await
    } else {
        inner.manager.start_thread_with_tools(config, tools).await
    }
    .map_err(|e| CoreError::Config(format!("codex could not start the thread: {e}")))?;
    attach(&inner, new, start)
}

/// `thread_resume`: a stored thread (by id or rollout path) loaded with its whole history.
pub(crate) async fn resume_thread(inner: Arc<Inner>, target: String, start: ThreadStart) -> CoreResult<ThreadHandle> {
    inner.check_open()?;
    let target = store::Target::parse(&target)?;
    if let store::Target::Id(id) = &target {
        inner.check_not_loaded(*id).await?;
    }
    let (stored, items) = store::history_of(store::read(&inner.store, &target, true).await?)?;
    inner.check_not_loaded(stored.thread_id).await?;
    let mut config = inner.settings.build(&start.options).await?;
    crate::account::check_credentials(&inner, &mut config).await?;
    let history = store::resumed(&stored, items);
    let new = inner
        .manager
        .resume_thread_with_history(config, history, Arc::clone(&inner.auth), None, false)
        .await
        .map_err(|e| CoreError::Rollout(format!("codex could not resume thread {}: {e}", stored.thread_id)))?;
    attach(&inner, new, start)
}

/// `thread_fork`: a new thread with the parent's history (up to and including `up_to_turn`).
pub(crate) async fn fork_thread(
    inner: Arc<Inner>,
    parent: String,
    up_to_turn: Option<String>,
    start: ThreadStart,
) -> CoreResult<ThreadHandle> {
    inner.check_open()?;
    let id = store::parse_id(&parent)?;
    // What the parent said last must be on disk before the store reads it.
    inner
        .flush_if_loaded(id)
        .await
        .map_err(|e| CoreError::Rollout(format!("flushing thread {id}'s rollout: {e}")))?;
    let (stored, mut items) = store::history_of(store::read(&inner.store, &store::Target::Id(id), true).await?)?;
    if let Some(turn) = up_to_turn {
        items = codex_core::truncate_rollout_after_turn_id(&items, &turn)
            .map_err(|e| CoreError::Config(format!("thread {id} has no turn {turn:?} to fork at: {e}")))?;
    }
    let mut config = inner.settings.build(&start.options).await?;
    crate::account::check_credentials(&inner, &mut config).await?;
    let history = store::resumed(&stored, items);
    let new = inner
        .manager
        .fork_thread_from_history(ForkSnapshot::Interrupted, config, history, None, None, false)
        .await
        .map_err(|e| CoreError::Codex(format!("codex could not fork thread {id}: {e}")))?;
    attach(&inner, new, start)
}

/// Gives a loaded codex thread its pump, queue and request registry.
fn attach(inner: &Arc<Inner>, new: NewThread, start: ThreadStart) -> CoreResult<ThreadHandle> {
    let NewThread { thread_id, thread, session_configured } = new;
    let (tx, rx) = mpsc::channel(start.max_queued_events.max(1));
    let rx = Arc::new(Mutex::new(rx));
    let waker = inner.wakeups.register(&rx, &thread_id.to_string());
    let requests = Requests::new(&start.handled, start.request_timeout);
    inner.routes.add(thread_id.to_string(), &tx, &waker);
    let span = tracing::info_span!("codexrs_thread", thread_id = %thread_id);
    tokio::spawn(tracing::Instrument::instrument(
        crate::panics::contained("the event pump", crate::thread::pump(
            Arc::clone(&thread),
            tx,
            Arc::clone(&waker),
            PumpOptions {
                raw_response_items: start.raw_response_items,
                requests: Arc::clone(&requests),
                rate_limits: Arc::clone(&inner.rate_limits),
                thread_id: thread_id.to_string(),
            },
        )),
        span,
    ));
    Ok(ThreadHandle {
        id: thread_id,
        thread,
        rx,
        lag_ns: std::sync::atomic::AtomicU64::new(0),
        waker,
        max_queued_events: start.max_queued_events.max(1),
        requests,
        session_configured: serde_json::to_vec(&session_configured).unwrap_or_default(),
        manager: Arc::downgrade(&inner.manager),
    })
}

/// Parses `thread_start`'s (and resume's, fork's) options before any work starts.
#[allow(clippy::too_many_arguments)]
pub(crate) fn thread_start_options(
    cwd: Option<PathBuf>,
    model: Option<String>,
    approval_policy: Option<&str>,
    sandbox: Option<&str>,
    config_json: &str,
    max_queued_events: usize,
    raw_response_items: bool,
    handled: Vec<String>,
    request_timeout: Option<f64>,
) -> CoreResult<ThreadStart> {
    if max_queued_events == 0 {
        return Err(CoreError::Config("max_queued_events must be at least 1".into()));
    }
    let handled = handled.iter().map(|k| Kind::parse(k)).collect::<CoreResult<Vec<_>>>()?;
    let request_timeout = match request_timeout {
        Some(t) if t.is_nan() || t <= 0.0 => {
            return Err(CoreError::Config(format!("request_timeout must be a positive number of seconds, not {t}")));
        }
        Some(t) if t == f64::INFINITY => None,
        t => t.map(crate::errors::seconds),
    };
    let options = ThreadOptions {
        cwd,
        model,
        approval_policy: approval_policy.map(parse_approval_policy).transpose()?,
        sandbox: sandbox.map(parse_sandbox).transpose()?,
        overrides: parse_overrides(config_json)?,
    };
    Ok(ThreadStart { options, max_queued_events, raw_response_items, handled, request_timeout, tools: Vec::new() })
}

/// Runs `work` as a `Pending` whose result is the JSON value it returns, as a Python object.
pub(crate) fn json_pending<F>(what: &'static str, work: F) -> PyResult<Pending>
where
    F: std::future::Future<Output = CoreResult<serde_json::Value>> + Send + 'static,
{
    Ok(Pending::spawn(what, async move {
        let value = work.await?;
        let text = serde_json::to_string(&value).map_err(|e| CoreError::Internal(format!("{what}: {e}")))?;
        let finish: Finish = Box::new(move |py| {
            let json = py.import("json")?;
            Ok(json.call_method1("loads", (text,))?.unbind())
        });
        Ok(finish)
    })?)
}

pub(crate) fn handle_pending<F>(what: &'static str, work: F) -> PyResult<Pending>
where
    F: std::future::Future<Output = CoreResult<ThreadHandle>> + Send + 'static,
{
    Ok(Pending::spawn(what, async move {
        let handle = work.await?;
        let finish: Finish = Box::new(move |py| Ok(Py::new(py, handle)?.into_any()));
        Ok(finish)
    })?)
}
