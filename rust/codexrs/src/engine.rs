//! One codex-core `ThreadManager` per `Codex` (Python: `codexrs._native.Engine`).
//!
//! Wired the way codex's own app-server wires it: the state database, the auth manager, the
//! exec-server environment, the thread store, and the same thread extensions (goals, guardian,
//! memories, MCP, web search, image generation, skills), so a codexrs thread can do what a
//! `codex` CLI thread can. codex-core re-executes its host binary for apply_patch and the Linux
//! sandbox; inside Python the host is the interpreter, so each engine points codex at the
//! codexrs helper executable and a private directory of alias links to it.

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::Duration;

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
use codex_protocol::protocol::SessionSource;
use pyo3::prelude::*;

use crate::account;
use crate::mcp;
use crate::ratelimits::RateLimits;
use crate::config::EngineSettings;
use crate::config::HelperPaths;
use crate::config::ThreadOptions;
use crate::config::parse_overrides;
use crate::errors::CoreError;
use crate::errors::CoreResult;
use crate::loading::handle_pending;
use crate::loading::json_pending;
use crate::loading::thread_start_options;
use crate::loading::fork_thread;
use crate::loading::resume_thread;
use crate::loading::start_thread;
use crate::pending::Finish;
use crate::pending::Pending;
use crate::routes::Routes;
use crate::store;
use crate::wakeups::EngineWakeups;
use crate::wakeups::Wakeups;

/// The names codex's arg0 dispatch recognises, each linked to the helper executable.
const ALIASES: &[&str] = &["apply_patch", "applypatch", "codex-linux-sandbox", "codex-execve-wrapper"];

/// An engine's state, shared (behind an `Arc`) by its Python object and the work it spawns.
pub(crate) struct Inner {
    pub(crate) settings: EngineSettings,
    pub(crate) manager: Arc<ThreadManager>,
    /// codex's thread store (ThreadManager keeps its own and exposes none): list, read, archive.
    pub(crate) store: Arc<dyn ThreadStore>,
    pub(crate) auth: Arc<AuthManager>,
    pub(crate) routes: Arc<Routes>,
    /// Real, carried and injected rate-limit snapshots (`crate::ratelimits`).
    pub(crate) rate_limits: Arc<RateLimits>,
    /// The one wake-up descriptor of the engine's asyncio readers (`crate::wakeups`).
    pub(crate) wakeups: Arc<Wakeups>,
    pub(crate) closed: AtomicBool,
    _links: Option<tempfile::TempDir>,
}

impl Inner {
    pub(crate) fn check_open(&self) -> CoreResult<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(CoreError::Closed("the engine is closed".into()));
        }
        Ok(())
    }

    /// A thread this engine has loaded.
    pub(crate) async fn loaded(&self, thread_id: &str) -> CoreResult<Arc<codex_core::CodexThread>> {
        let id = store::parse_id(thread_id)?;
        self.manager
            .get_thread(id)
            .await
            .map_err(|_| CoreError::ThreadNotFound(format!("thread {id} is not loaded in this engine")))
    }

    /// Writes a thread's buffered rollout to disk if this engine has it loaded, so the thread
    /// store reads all of it; a thread not loaded here has nothing buffered.
    pub(crate) async fn flush_if_loaded(&self, id: ThreadId) -> std::io::Result<()> {
        match self.manager.get_thread(id).await {
            Ok(live) => live.flush_rollout().await,
            Err(_) => Ok(()),
        }
    }

    /// Refuses to load a thread this engine already has loaded: two pumps would split its events.
    pub(crate) async fn check_not_loaded(&self, id: ThreadId) -> CoreResult<()> {
        if self.manager.get_thread(id).await.is_ok() {
            return Err(CoreError::Config(format!(
                "thread {id} is already loaded in this engine: use codex.thread(id), or close it first"
            )));
        }
        Ok(())
    }
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

    account::identify();
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
        builder.token_usage_contributor(crate::panics::turn_fault_point());
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
            rate_limits: Arc::new(RateLimits::default()),
            wakeups: Wakeups::new()?,
            closed: AtomicBool::new(false),
            _links: links,
        }),
    })
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
    /// `tools_json`: a JSON list of codex `DynamicToolSpec`s (Python functions as tools).
    #[pyo3(signature = (cwd=None, model=None, approval_policy=None, sandbox=None, config_json="{}", max_queued_events=4096, raw_response_items=false, handled=Vec::new(), request_timeout=None, tools_json=None))]
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
        tools_json: Option<&str>,
    ) -> PyResult<Pending> {
        let mut start = thread_start_options(
            cwd, model, approval_policy, sandbox, config_json, max_queued_events, raw_response_items, handled, request_timeout,
        )?;
        if let Some(json) = tools_json {
            start.tools = serde_json::from_str(json)
                .map_err(|e| CoreError::Config(format!("tools are not codex DynamicToolSpecs ({e}): {json}")))?;
        }
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
        json_pending("thread info", async move {
            let id = store::parse_id(&thread_id)?;
            let _ = inner.flush_if_loaded(id).await; // stored metadata is readable either way
            Ok(store::info(&store::read(&inner.store, &store::Target::Id(id), false).await?))
        })
    }

    /// A stored thread and the codex events its rollout keeps (see `store::history`).
    fn thread_read(&self, thread_id: String) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("thread read", async move {
            let id = store::parse_id(&thread_id)?;
            let _ = inner.flush_if_loaded(id).await; // what is on disk is still the history
            store::history(&inner.store, id).await
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

    /// The MCP tools of a loaded thread: a JSON list of codex `ToolInfo`s.
    fn mcp_tools(&self, thread_id: String) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("MCP tools", async move {
            let thread = inner.loaded(&thread_id).await?;
            mcp::tools(&thread).await
        })
    }

    /// Reloads a loaded thread's MCP servers from the current config (at its next turn).
    fn refresh_mcp_servers(&self, thread_id: String) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("MCP refresh", async move {
            let thread = inner.loaded(&thread_id).await?;
            mcp::refresh(&inner, &thread).await?;
            Ok(serde_json::Value::Null)
        })
    }

    /// The engine's rate-limit snapshots: a JSON object by limit id (real ones, `"provider"`)
    /// and the host's injected one (`"injected:<name>"`), each with `source` and `observed_at`.
    fn rate_limits(&self) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("rate limits", async move { Ok(inner.rate_limits.current()) })
    }

    /// Registers the host's rate-limit source: `name` and a codex `RateLimitSnapshot` as JSON,
    /// put (marked `injected:<name>`) into `token_count` events that carry none. `None`
    /// removes it.
    #[pyo3(signature = (name, snapshot_json=None))]
    fn set_rate_limit_source(&self, name: String, snapshot_json: Option<&str>) -> PyResult<()> {
        let source = match snapshot_json {
            None => None,
            Some(json) => {
                let snapshot: codex_protocol::protocol::RateLimitSnapshot = serde_json::from_str(json)
                    .map_err(|e| CoreError::Config(format!("not a codex RateLimitSnapshot ({e}): {json}")))?;
                let value = serde_json::to_value(snapshot).map_err(|e| CoreError::Internal(e.to_string()))?;
                Some((name, value))
            }
        };
        self.inner.rate_limits.set_source(source);
        Ok(())
    }

    /// Stores an API key as codex's login in `codex_home`; returns the account (see `account`).
    fn login_api_key(&self, api_key: String) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("login", async move { account::login_api_key(&inner, api_key).await })
    }

    /// Starts codex's ChatGPT browser login (a callback server on 127.0.0.1 with PKCE); the
    /// `Pending`'s result is a `Login` whose `url` is the authorize URL. `issuer`: the OAuth
    /// issuer's base URL (`None`: codex's).
    #[pyo3(signature = (open_browser=false, issuer=None))]
    fn login_chatgpt(&self, open_browser: bool, issuer: Option<String>) -> PyResult<Pending> {
        self.inner.check_open()?;
        crate::login::start_browser(Arc::clone(&self.inner), open_browser, issuer)
    }

    /// Starts codex's ChatGPT device-code login; the `Pending`'s result is a `Login` with the
    /// verification `url` and the `user_code`.
    #[pyo3(signature = (issuer=None))]
    fn login_chatgpt_device_code(&self, issuer: Option<String>) -> PyResult<Pending> {
        self.inner.check_open()?;
        crate::login::start_device_code(Arc::clone(&self.inner), issuer)
    }

    /// Removes codex's login from `codex_home`; the result says whether there was one.
    fn logout(&self) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("logout", async move { account::logout(&inner).await })
    }

    /// The logged-in account (`auth_mode`, `email`, `plan`, `account_id`), or `None`.
    fn account(&self) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("account", async move { account::account(&inner).await })
    }

    /// Asks codex's backend for the account's current rate limits (ChatGPT auth only); the
    /// result is the snapshot, marked `"backend"`, also kept for `rate_limits`.
    fn fetch_rate_limits(&self) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("fetch rate limits", async move { account::fetch_rate_limits(&inner).await })
    }

    /// codex-core's model list (a JSON list of codex `ModelPreset`s).
    fn models(&self) -> PyResult<Pending> {
        let inner = Arc::clone(&self.inner);
        json_pending("models", async move { account::models(&inner).await })
    }

    /// Shuts every thread down, waiting at most `timeout` seconds (`None` or `inf`: no limit).
    /// Later calls fail with `EngineClosedError`.
    #[pyo3(signature = (timeout=10.0))]
    fn close(&self, timeout: Option<f64>) -> PyResult<Pending> {
        self.inner.closed.store(true, Ordering::Release);
        let inner = Arc::clone(&self.inner);
        Ok(Pending::spawn("engine close", async move {
            inner
                .manager
                .shutdown_all_threads_bounded(timeout.map_or(Duration::MAX, crate::errors::seconds))
                .await;
            let finish: Finish = Box::new(|py| Ok(py.None()));
            Ok(finish)
        })?)
    }

    /// The engine's wake-up descriptor for asyncio readers (`crate::wakeups`).
    fn wakeups(&self) -> EngineWakeups {
        EngineWakeups::new(&self.inner.wakeups)
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }
}
