//! codexrs: OpenAI's Codex agent engine (codex-core) inside the Python process.
//!
//! Modules: [`account`] (codexrs's identity to the provider, login, models), [`login`] (ChatGPT login: the browser and device-code flows), [`runtime`] (the process's tokio runtime), [`engine`] (one codex-core
//! `ThreadManager` per `Codex`), [`loading`] (start, resume, fork a thread), [`thread`] (a thread's event pump, queue and ops), [`pending`]
//! (slow operations as awaitable handles), [`mcp`] (a thread's MCP tools, refresh), [`ops`] (thread settings, compaction,
//! rollback, review, shell commands, steering), [`ratelimits`] (real, carried and injected rate-limit snapshots), [`requests`] (codex-core's requests: answered or
//! denied, never left waiting), [`routes`] (extension events to the thread they name), [`wakeups`] (one wake-up descriptor per engine for asyncio readers), [`config`] (Python values to codex config),
//! [`errors`] (the error enum and the Python exception hierarchy), [`panics`] (a panic fails its turn, reaches `logging`, never stderr), [`logs`] (`tracing` records to Python `logging`), [`store`] (codex's thread
//! store: resume, fork, list, archive, names), [`schema`] (codex's event
//! schema and a serde round trip, for the generated types and their tests).

// codexrs is built at opt-level 2 (Cargo.toml): computing the layout of codex-core's deepest
// async fn bodies (its turn task) then takes more than rustc's default 128 query levels.
#![recursion_limit = "256"]

pub mod account;
pub mod config;
pub mod engine;
pub mod errors;
pub mod loading;
pub mod login;
pub mod logs;
pub mod mcp;
pub mod ops;
pub mod panics;
pub mod pending;
pub mod ratelimits;
pub mod requests;
pub mod routes;
pub mod runtime;
pub mod schema;
pub mod store;
pub mod thread;
pub mod wakeups;

use pyo3::prelude::*;

/// The allocator of every Rust allocation in the extension, codex-core's included (Python's
/// own objects keep Python's allocator). See `Cargo.toml` for why.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Shuts the codexrs runtime down, giving running tasks at most `timeout` seconds. Called at
/// interpreter exit. Returns whether a runtime was running.
#[pyfunction]
#[pyo3(signature = (timeout=2.0))]
fn shutdown_runtime(py: Python<'_>, timeout: f64) -> bool {
    py.detach(|| runtime::shutdown(errors::seconds(timeout)))
}

/// How many worker threads the codexrs runtime has (starting it if it is not running yet; see
/// `runtime::worker_threads`). Raises `EngineClosedError` after `fork()` or a shutdown.
#[pyfunction]
fn runtime_workers() -> PyResult<usize> {
    Ok(runtime::handle().map_err(errors::CoreError::into_pyerr)?.metrics().num_workers())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    panics::install_hook();
    m.add_class::<engine::Engine>()?;
    m.add_class::<thread::ThreadHandle>()?;
    m.add_class::<pending::Pending>()?;
    m.add_class::<wakeups::EngineWakeups>()?;
    m.add_class::<login::Login>()?;
    m.add_function(wrap_pyfunction!(shutdown_runtime, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_workers, m)?)?;
    m.add_function(wrap_pyfunction!(logs::install_log_bridge, m)?)?;
    m.add_function(wrap_pyfunction!(logs::set_log_levels, m)?)?;
    m.add_function(wrap_pyfunction!(logs::set_log_directives, m)?)?;
    m.add_function(wrap_pyfunction!(logs::drain_logs, m)?)?;
    m.add_function(wrap_pyfunction!(logs::emit_test_log, m)?)?;
    m.add("LOG_QUEUE_CAPACITY", logs::CAPACITY)?;
    m.add_function(wrap_pyfunction!(panics::inject, m)?)?;
    m.add_function(wrap_pyfunction!(panics::debug_assertions, m)?)?;
    m.add_function(wrap_pyfunction!(schema::event_schema, m)?)?;
    m.add_function(wrap_pyfunction!(schema::roundtrip_event, m)?)?;
    m.add("CodexError", py.get_type::<errors::CodexError>())?;
    m.add("ConfigError", py.get_type::<errors::ConfigError>())?;
    m.add("CredentialsError", py.get_type::<errors::CredentialsError>())?;
    m.add("ModelError", py.get_type::<errors::ModelError>())?;
    m.add("ThreadNotFoundError", py.get_type::<errors::ThreadNotFoundError>())?;
    m.add("RolloutError", py.get_type::<errors::RolloutError>())?;
    m.add("TurnNotSteerableError", py.get_type::<errors::TurnNotSteerableError>())?;
    m.add("EngineClosedError", py.get_type::<errors::EngineClosedError>())?;
    m.add("TurnInProgressError", py.get_type::<errors::TurnInProgressError>())?;
    m.add("InternalError", py.get_type::<errors::InternalError>())?;
    m.add("LoginError", py.get_type::<errors::LoginError>())?;
    m.add("AUTO_DENY_REASON", requests::NO_HANDLER)?;
    m.add("TIMED_OUT_REASON", requests::TIMED_OUT)?;
    m.add("CODEX_CORE_PACKAGE", account::CODEX_CORE_PACKAGE)?;
    m.add("ORIGINATOR", account::ORIGINATOR)?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
