//! One error enum for the binding and its one conversion into the Python hierarchy.
//!
//! Python sees `codexrs.CodexError` and its subclasses; every failure that crosses the boundary
//! goes through [`CoreError::into_pyerr`].

use pyo3::PyErr;
use pyo3::create_exception;
use pyo3::exceptions::PyException;

create_exception!(
    _native,
    CodexError,
    PyException,
    "Base class of every error codexrs raises."
);
create_exception!(
    _native,
    ConfigError,
    CodexError,
    "A codex config value, override, policy name or path was rejected."
);
create_exception!(
    _native,
    ModelError,
    CodexError,
    "The model provider failed a turn (HTTP status, stream error, malformed stream)."
);
create_exception!(
    _native,
    ThreadNotFoundError,
    CodexError,
    "No thread with this id is loaded in this engine."
);
create_exception!(
    _native,
    RolloutError,
    CodexError,
    "A rollout file (a stored thread) is missing, truncated, archived or not a codex rollout."
);
create_exception!(
    _native,
    EngineClosedError,
    CodexError,
    "The engine, the thread or the codexrs runtime was closed (or this is a forked child)."
);
create_exception!(
    _native,
    TurnInProgressError,
    CodexError,
    "The thread already has a turn running that someone is reading."
);
create_exception!(
    _native,
    TurnNotSteerableError,
    CodexError,
    "steer() found no running turn to add input to: the turn ended (or cannot be steered)."
);
create_exception!(
    _native,
    InternalError,
    CodexError,
    "A bug in codexrs or codex-core (a panic or a broken invariant); the message says where."
);

/// Every failure the native layer can report.
#[derive(Debug)]
pub enum CoreError {
    Config(String),
    ThreadNotFound(String),
    Rollout(String),
    NotSteerable(String),
    Closed(String),
    Internal(String),
    /// An error codex-core reported while driving a thread or submitting an op.
    Codex(String),
}

impl CoreError {
    pub fn into_pyerr(self) -> PyErr {
        match self {
            Self::Config(m) => ConfigError::new_err(m),
            Self::ThreadNotFound(m) => ThreadNotFoundError::new_err(m),
            Self::Rollout(m) => RolloutError::new_err(m),
            Self::NotSteerable(m) => TurnNotSteerableError::new_err(m),
            Self::Closed(m) => EngineClosedError::new_err(m),
            Self::Internal(m) => InternalError::new_err(m),
            Self::Codex(m) => CodexError::new_err(m),
        }
    }

    /// Turns a failed spawned task (a panic or a cancellation) into an error.
    pub fn from_join(err: tokio::task::JoinError, what: &str) -> Self {
        if err.is_panic() {
            let payload = err.into_panic();
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            Self::Internal(format!("{what} panicked: {text}"))
        } else {
            Self::Closed(format!("{what} was cancelled"))
        }
    }
}

impl std::fmt::Display for CoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, m) = match self {
            Self::Config(m) => ("config", m),
            Self::ThreadNotFound(m) => ("thread not found", m),
            Self::Rollout(m) => ("rollout", m),
            Self::NotSteerable(m) => ("not steerable", m),
            Self::Closed(m) => ("closed", m),
            Self::Internal(m) => ("internal", m),
            Self::Codex(m) => ("codex", m),
        };
        write!(f, "{kind}: {m}")
    }
}

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> Self {
        err.into_pyerr()
    }
}

pub type CoreResult<T> = Result<T, CoreError>;
