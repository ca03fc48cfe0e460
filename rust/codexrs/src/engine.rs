//! One codex-core `ThreadManager` per `Codex` (Python: `codexrs._native.Engine`).
//!
//! Wired the way codex's own app-server wires it: the state database, the auth manager, the
//! exec-server environment, the thread store, and the same thread extensions (goals, guardian,
//! memories, MCP, web search, image generation, skills), so a codexrs thread can do what a
//! `codex` CLI thread can. codex-core re-executes its host binary for apply_patch and the Linux
//! sandbox; inside Python the host is the interpreter, so each engine points codex at the
//! codexrs helper executable and a private directory of alias links to it.

use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::Weak;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::Duration;

use codex_core::ForkSnapshot;
use codex_core::NewThread;
use codex_core::StartThreadOptions;
use codex_core::ThreadManager;
use codex_exec_server::EnvironmentManager;
use codex_exec_server::ExecServerRuntimePaths;
use codex_extension_api::AgentSpawnFuture;
use codex_extension_api::AgentSpawner;
use codex_extension_api::ExtensionEventSink;
use codex_extension_api::ExtensionRegistry;
use codex_extension_api::ExtensionRegistryBuilder;
use codex_login::AuthManager;
use codex_thread_store::ThreadStore;
use codex_protocol::ThreadId;
use codex_protocol::error::CodexErr;
use codex_protocol::protocol::Event;
use codex_protocol::protocol::EventMsg;
use codex_protocol::protocol::InitialHistory;
use codex_protocol::protocol::ResumedHistory;
use codex_protocol::protocol::SessionSource;
use pyo3::prelude::*;
use tokio::sync::mpsc;

use crate::config::EngineSettings;
use crate::config::HelperPaths;
use crate::config::ThreadOptions;
use crate::config::parse_approval_policy;
use crate::config::parse_overrides;
use crate::config::parse_sandbox;
use crate::errors::CoreError;
use crate::errors::CoreResult;
use crate::pending::Finish;
use crate::pending::Pending;
use crate::requests::Kind;
use crate::requests::Requests;
use crate::store;
use crate::thread::PumpOptions;
use crate::thread::ThreadHandle;
use crate::thread::Waker;

/// The names codex's arg0 dispatch recognises, each linked to the helper executable.
const ALIASES: &[&str] = &["apply_patch", "applypatch", "codex-linux-sandbox", "codex-execve-wrapper"];

/// Where extension events (goal updates, ...) go: the queue of the thread they name. Holds
/// only weak references, so a finished thread's queue and wake-up socket are freed; dead
/// entries are pruned whenever a thread is added.
#[derive(Default)]
struct Routes {
    threads: Mutex<HashMap<String, (mpsc::WeakSender<Vec<u8>>, Weak<Waker>)>>,
}

impl Routes {
    fn add(&self, thread_id: String, tx: &mpsc::Sender<Vec<u8>>, waker: &Arc<Waker>) {
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
        match tx.try_send(bytes) {
            Ok(()) => waker.wake(),
            Err(mpsc::error::TrySendError::Full(bytes)) => {
                // Keep order-insensitive extension events without blocking codex: wait for room.
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    handle.spawn(async move {
                        if tx.send(bytes).await.is_ok() {
                            waker.wake();
                        }
                    });
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

struct Inner {
    settings: EngineSettings,
    manager: Arc<ThreadManager>,
    /// codex's thread store (ThreadManager keeps its own and exposes none): list, read, archive.
    store: Arc<dyn ThreadStore>,
    auth: Arc<AuthManager>,
    routes: Arc<Routes>,
    closed: AtomicBool,
    _links: Option<tempfile::TempDir>,
}

/// A running codex-core engine.
#[pyclass(module = "codexrs._native", frozen)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// Makes a private directory of alias links to the helper executable.
fn link_helper(helper: &Path) -> CoreResult<(tempfile::TempDir, HelperPaths)> {
    let helper = std::fs::canonicalize(helper).map_err(|e| {
        CoreError::Config(format!("codexrs helper executable {} is missing: {e}", helper.display()))
    })?;
    let dir = tempfile::Builder::new()
        .prefix("codexrs-helper-")
        .tempdir()
        .map_err(|e| CoreError::Internal(format!("cannot create the helper link directory: {e}")))?;
    for alias in ALIASES {
        std::os::unix::fs::symlink(&helper, dir.path().join(alias)).map_err(|e| {
            CoreError::Internal(format!("cannot link {alias} to the helper executable: {e}"))
        })?;
    }
    let paths = HelperPaths {
        self_exe: Some(helper),
        linux_sandbox_exe: Some(dir.path().join("codex-linux-sandbox")),
        execve_wrapper_exe: Some(dir.path().join("codex-execve-wrapper")),
    };
    Ok((dir, paths))
}

fn guardian_spawner(
    manager: Weak<ThreadManager>,
) -> impl AgentSpawner<StartThreadOptions, Spawned = NewThread, Error = CodexErr> {
    move |parent: ThreadId, options: StartThreadOptions| -> AgentSpawnFuture<'static, NewThread, CodexErr> {
        let manager = manager.clone();
        Box::pin(async move {
            let manager = manager
                .upgrade()
                .ok_or_else(|| CodexErr::UnsupportedOperation("the codexrs engine is closed".into()))?;
            manager.spawn_subagent(parent, options).await
        })
    }
}

async fn start(settings: EngineSettings, links: Option<tempfile::TempDir>) -> CoreResult<Engine> {
    use codex_core::config::Config;

    let config = settings.build(&ThreadOptions::default()).await?;
    let state_db = codex_core::init_state_db(&config).await;
    let auth = AuthManager::shared_from_config(&config, true).await;
    let runtime_paths = ExecServerRuntimePaths::from_optional_paths(
        settings.helper.self_exe.clone(),
        settings.helper.linux_sandbox_exe.clone(),
    )
    .map_err(|e| CoreError::Config(format!("codexrs helper executable: {e}")))?;
    let environments = Arc::new(
        EnvironmentManager::from_codex_home(config.codex_home.clone(), Some(runtime_paths))
            .await
            .map_err(|e| CoreError::Config(format!("codex exec environment: {e}")))?,
    );
    let thread_store = codex_core::thread_store_from_config(&config, state_db.clone());
    let installation_id = codex_core::resolve_installation_id(&config.codex_home)
        .await
        .map_err(|e| CoreError::Config(format!("codex installation id: {e}")))?;
    let routes = Arc::new(Routes::default());
    let analytics = codex_analytics::AnalyticsEventsClient::disabled();
    let goal_service = Arc::new(codex_goal_extension::GoalService::new());
    let skills_executor: Arc<dyn codex_skills_extension::SkillProvider> = Arc::new(
        codex_skills_extension::ExecutorSkillProvider::new_with_restriction_product(
            Arc::clone(&environments),
            SessionSource::Exec.restriction_product(),
        ),
    );

    let manager = Arc::new_cyclic(|weak: &Weak<ThreadManager>| {
        let mut builder = ExtensionRegistryBuilder::<Config>::with_event_sink(
            Arc::clone(&routes) as Arc<dyn ExtensionEventSink>
        );
        if let Some(state_db) = state_db.clone() {
            codex_goal_extension::install_with_backend(
                &mut builder,
                state_db,
                analytics.clone(),
                codex_otel::global(),
                weak.clone(),
                Arc::clone(&goal_service),
                |config: &Config| config.features.enabled(codex_features::Feature::Goals),
            );
        }
        codex_guardian::install(&mut builder, guardian_spawner(weak.clone()));
        codex_memories_extension::install(&mut builder, codex_otel::global());
        codex_mcp_extension::install(&mut builder);
        codex_mcp_extension::install_executor_plugins(&mut builder, Arc::clone(&environments));
        codex_web_search_extension::install(&mut builder, Arc::clone(&auth));
        codex_image_generation_extension::install(&mut builder, Arc::clone(&auth), |config: &Config| {
            Some(config.codex_home.clone())
        });
        let providers = codex_skills_extension::SkillProviders::new()
            .with_executor_provider(skills_executor)
            .with_orchestrator_provider(Arc::new(codex_skills_extension::OrchestratorSkillProvider::new()))
            .with_host_provider(Arc::new(codex_skills_extension::HostSkillProvider::new()));
        codex_skills_extension::install_with_providers_and_metrics(
            &mut builder,
            providers,
            codex_otel::global(),
            |config: &Config| codex_skills_extension::SkillsExtensionConfig {
                include_instructions: config.include_skill_instructions,
                bundled_skills_enabled: config.bundled_skills_enabled(),
                orchestrator_skills_enabled: config.orchestrator_skills_enabled,
                shadow_selection_enabled: config.features.enabled(codex_features::Feature::SkillSearch),
            },
        );
        let extensions: Arc<ExtensionRegistry<Config>> = Arc::new(builder.build());
        ThreadManager::new(
            &config,
            Arc::clone(&auth),
            codex_core::build_models_manager(&config, Arc::clone(&auth)),
            codex_core::CodexAppsToolsCache::default(),
            SessionSource::Exec,
            Arc::clone(&environments),
            extensions,
            Arc::new(codex_home::CodexHomeUserInstructionsProvider::new(config.codex_home.clone())),
            None,
            Arc::clone(&thread_store),
            codex_core::local_agent_graph_store_from_state_db(state_db.as_ref()),
            installation_id,
            None,
            None,
        )
    });
    Ok(Engine {
        inner: Arc::new(Inner {
            settings,
            manager,
            store: thread_store,
            auth,
            routes,
            closed: AtomicBool::new(false),
            _links: links,
        }),
    })
}

/// Options of one `thread_start` call, parsed before any work starts.
struct ThreadStart {
    options: ThreadOptions,
    max_queued_events: usize,
    raw_response_items: bool,
    handled: Vec<Kind>,
    request_timeout: Option<Duration>,
}

impl Inner {
    fn check_open(&self) -> CoreResult<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(CoreError::Closed("the engine is closed".into()));
        }
        Ok(())
    }

    /// Refuses to load a thread this engine already has loaded: two pumps would split its events.
    async fn check_not_loaded(&self, id: ThreadId) -> CoreResult<()> {
        if self.manager.get_thread(id).await.is_ok() {
            return Err(CoreError::Config(format!(
                "thread {id} is already loaded in this engine: use codex.thread(id), or close it first"
            )));
        }
        Ok(())
    }
}

async fn start_thread(inner: Arc<Inner>, start: ThreadStart) -> CoreResult<ThreadHandle> {
    inner.check_open()?;
    let config = inner.settings.build(&start.options).await?;
    let new = inner
        .manager
        .start_thread(config)
        .await
        .map_err(|e| CoreError::Config(format!("codex could not start the thread: {e}")))?;
    attach(&inner, new, start)
}

/// `thread_resume`: a stored thread (by id or rollout path) loaded with its whole history.
async fn resume_thread(inner: Arc<Inner>, target: String, start: ThreadStart) -> CoreResult<ThreadHandle> {
    inner.check_open()?;
    let target = store::Target::parse(&target)?;
    if let store::Target::Id(id) = &target {
        inner.check_not_loaded(*id).await?;
    }
    let (stored, items) = store::history_of(store::read(&inner.store, &target, true).await?)?;
    inner.check_not_loaded(stored.thread_id).await?;
    let config = inner.settings.build(&start.options).await?;
    let history = InitialHistory::Resumed(ResumedHistory {
        conversation_id: stored.thread_id,
        history: Arc::new(items),
        rollout_path: stored.rollout_path.clone(),
    });
    let new = inner
        .manager
        .resume_thread_with_history(config, history, Arc::clone(&inner.auth), None, false)
        .await
        .map_err(|e| CoreError::Rollout(format!("codex could not resume thread {}: {e}", stored.thread_id)))?;
    attach(&inner, new, start)
}

/// `thread_fork`: a new thread with the parent's history (up to and including `up_to_turn`).
async fn fork_thread(
    inner: Arc<Inner>,
    parent: String,
    up_to_turn: Option<String>,
    start: ThreadStart,
) -> CoreResult<ThreadHandle> {
    inner.check_open()?;
    let id = store::parse_id(&parent)?;
    if let Ok(live) = inner.manager.get_thread(id).await {
        // What the parent said last must be on disk before the store reads it.
        live.flush_rollout()
            .await
            .map_err(|e| CoreError::Rollout(format!("flushing thread {id}'s rollout: {e}")))?;
    }
    let (stored, mut items) = store::history_of(store::read(&inner.store, &store::Target::Id(id), true).await?)?;
    if let Some(turn) = up_to_turn {
        items = codex_core::truncate_rollout_after_turn_id(&items, &turn)
            .map_err(|e| CoreError::Config(format!("thread {id} has no turn {turn:?} to fork at: {e}")))?;
    }
    let config = inner.settings.build(&start.options).await?;
    let history = InitialHistory::Resumed(ResumedHistory {
        conversation_id: stored.thread_id,
        history: Arc::new(items),
        rollout_path: stored.rollout_path.clone(),
    });
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
    let waker = Waker::new()?;
    let requests = Requests::new(&start.handled, start.request_timeout);
    inner.routes.add(thread_id.to_string(), &tx, &waker);
    tokio::spawn(crate::thread::pump(
        Arc::clone(&thread),
        tx,
        Arc::clone(&waker),
        PumpOptions { raw_response_items: start.raw_response_items, requests: Arc::clone(&requests) },
    ));
    Ok(ThreadHandle {
        id: thread_id,
        thread,
        rx: Arc::new(Mutex::new(rx)),
        waker,
        requests,
        session_configured: serde_json::to_vec(&session_configured).unwrap_or_default(),
        manager: Arc::downgrade(&inner.manager),
    })
}

/// Parses `thread_start`'s (and resume's, fork's) options before any work starts.
#[allow(clippy::too_many_arguments)]
fn thread_start_options(
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
        Some(t) if !(t.is_finite() && t > 0.0) => {
            return Err(CoreError::Config(format!("request_timeout must be a positive number of seconds, not {t}")));
        }
        t => t.map(Duration::from_secs_f64),
    };
    let options = ThreadOptions {
        cwd,
        model,
        approval_policy: approval_policy.map(parse_approval_policy).transpose()?,
        sandbox: sandbox.map(parse_sandbox).transpose()?,
        overrides: parse_overrides(config_json)?,
    };
    Ok(ThreadStart { options, max_queued_events, raw_response_items, handled, request_timeout })
}

/// Runs `work` as a `Pending` whose result is the JSON value it returns, as a Python object.
fn json_pending<F>(what: &'static str, work: F) -> PyResult<Pending>
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

fn handle_pending<F>(what: &'static str, work: F) -> PyResult<Pending>
where
    F: std::future::Future<Output = CoreResult<ThreadHandle>> + Send + 'static,
{
    Ok(Pending::spawn(what, async move {
        let handle = work.await?;
        let finish: Finish = Box::new(move |py| Ok(Py::new(py, handle)?.into_any()));
        Ok(finish)
    })?)
}

#[pymethods]
impl Engine {
    /// Starts an engine. `config_json` is a JSON object of dotted codex config keys; `helper`
    /// is the codexrs helper executable. Returns a `Pending` whose result is the `Engine`.
    #[staticmethod]
    #[pyo3(signature = (codex_home, cwd, config_json, helper))]
    fn start(
        codex_home: PathBuf,
        cwd: Option<PathBuf>,
        config_json: &str,
        helper: Option<PathBuf>,
    ) -> PyResult<Pending> {
        let overrides = parse_overrides(config_json)?;
        let (links, helper_paths) = match helper {
            Some(helper) => {
                let (dir, paths) = link_helper(&helper)?;
                (Some(dir), paths)
            }
            None => (None, HelperPaths::default()),
        };
        std::fs::create_dir_all(&codex_home).map_err(|e| {
            CoreError::Config(format!("cannot create codex_home {}: {e}", codex_home.display()))
        })?;
        let settings = EngineSettings { codex_home, cwd, overrides, helper: helper_paths };
        Ok(Pending::spawn("engine start", async move {
            let engine = start(settings, links).await?;
            let finish: Finish = Box::new(move |py| Ok(Py::new(py, engine)?.into_any()));
            Ok(finish)
        })?)
    }

    /// Starts a codex thread (`ThreadManager::start_thread`). Returns a `Pending` whose result
    /// is a `ThreadHandle`. Policy names are codex's (`never`, `workspace-write`, ...).
    /// `handled`: the request kinds (`exec`, `patch`, `permissions`, `user_input`,
    /// `elicitation`, `dynamic_tool`) Python answers; the rest are denied at once.
    /// `request_timeout`: seconds after which an unanswered request is denied (`None`: never).
    #[pyo3(signature = (cwd=None, model=None, approval_policy=None, sandbox=None, config_json="{}", max_queued_events=4096, raw_response_items=false, handled=Vec::new(), request_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn thread_start(
        &self,
        cwd: Option<PathBuf>,
        model: Option<String>,
        approval_policy: Option<&str>,
        sandbox: Option<&str>,
        config_json: &str,
        max_queued_events: usize,
        raw_response_items: bool,
        handled: Vec<String>,
        request_timeout: Option<f64>,
    ) -> PyResult<Pending> {
        let start = thread_start_options(
            cwd, model, approval_policy, sandbox, config_json, max_queued_events, raw_response_items, handled, request_timeout,
        )?;
        handle_pending("thread start", start_thread(Arc::clone(&self.inner), start))
    }

    /// Loads a stored thread (`target`: a thread id or a rollout file path) with its history,
    /// with the same options as `thread_start`. `ThreadNotFoundError` for an unknown id or a
    /// missing file; `RolloutError` for an archived, empty or unreadable rollout.
    #[pyo3(signature = (target, cwd=None, model=None, approval_policy=None, sandbox=None, config_json="{}", max_queued_events=4096, raw_response_items=false, handled=Vec::new(), request_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn thread_resume(
        &self,
        target: String,
        cwd: Option<PathBuf>,
        model: Option<String>,
        approval_policy: Option<&str>,
        sandbox: Option<&str>,
        config_json: &str,
        max_queued_events: usize,
        raw_response_items: bool,
        handled: Vec<String>,
        request_timeout: Option<f64>,
    ) -> PyResult<Pending> {
        let start = thread_start_options(
            cwd, model, approval_policy, sandbox, config_json, max_queued_events, raw_response_items, handled, request_timeout,
        )?;
        handle_pending("thread resume", resume_thread(Arc::clone(&self.inner), target, start))
    }

    /// A new thread with `parent`'s stored history, all of it or up to and including the turn
    /// `up_to_turn`; same options as `thread_start`.
    #[pyo3(signature = (parent, up_to_turn=None, cwd=None, model=None, approval_policy=None, sandbox=None, config_json="{}", max_queued_events=4096, raw_response_items=false, handled=Vec::new(), request_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn thread_fork(
        &self,
        parent: String,
        up_to_turn: Option<String>,
        cwd: Option<PathBuf>,
        model: Option<String>,
        approval_policy: Option<&str>,
        sandbox: Option<&str>,
        config_json: &str,
        max_queued_events: usize,
        raw_response_items: bool,
        handled: Vec<String>,
        request_timeout: Option<f64>,
    ) -> PyResult<Pending> {
        let start = thread_start_options(
            cwd, model, approval_policy, sandbox, config_json, max_queued_events, raw_response_items, handled, request_timeout,
        )?;
        handle_pending("thread fork", fork_thread(Arc::clone(&self.inner), parent, up_to_turn, start))
    }

    /// One page of stored threads, newest first: `{"data": [thread...], "next_cursor": str|None}`.
    #[pyo3(signature = (cwd=None, archived=false, limit=25, cursor=None))]
    fn thread_list(&self, cwd: Option<PathBuf>, archived: bool, limit: usize, cursor: Option<String>) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("thread list", async move { store::list(&inner.store, cwd, archived, limit, cursor).await })
    }

    /// The stored thread's metadata (see `thread_list`).
    fn thread_info(&self, thread_id: String) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("thread read", async move {
            let id = store::parse_id(&thread_id)?;
            if let Ok(live) = inner.manager.get_thread(id).await {
                let _ = live.flush_rollout().await;
            }
            Ok(store::info(&store::read(&inner.store, &store::Target::Id(id), false).await?))
        })
    }

    /// Archives a stored thread (unloading it first when loaded).
    fn thread_archive(&self, thread_id: String) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("thread archive", async move {
            store::archive(&inner.store, &inner.manager, store::parse_id(&thread_id)?).await?;
            Ok(serde_json::Value::Null)
        })
    }

    /// Restores an archived thread; returns its metadata.
    fn thread_unarchive(&self, thread_id: String) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("thread unarchive", async move { store::unarchive(&inner.store, store::parse_id(&thread_id)?).await })
    }

    /// Sets a thread's name in codex's metadata; returns the thread's metadata.
    fn thread_set_name(&self, thread_id: String, name: String) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("thread set name", async move {
            store::set_name(&inner.manager, store::parse_id(&thread_id)?, &name).await
        })
    }

    /// Shuts every thread down, waiting at most `timeout` seconds. Later calls fail with
    /// `EngineClosedError`.
    #[pyo3(signature = (timeout=10.0))]
    fn close(&self, timeout: f64) -> PyResult<Pending> {
        self.inner.closed.store(true, Ordering::Release);
        let inner = Arc::clone(&self.inner);
        Ok(Pending::spawn("engine close", async move {
            inner
                .manager
                .shutdown_all_threads_bounded(Duration::from_secs_f64(timeout.max(0.0)))
                .await;
            let finish: Finish = Box::new(|py| Ok(py.None()));
            Ok(finish)
        })?)
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }
}
