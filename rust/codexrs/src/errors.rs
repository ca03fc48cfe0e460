//! One error enum for the binding and its one conversion into the Python hierarchy.
//!
//! Python sees `codexrs.CodexError` and its subclasses; every failure that crosses the boundary
//! goes through [`CoreError::into_pyerr`]. The classes are created here but named
//! `codexrs.errors.*` (their `__module__`), where they are documented and re-exported, so
//! pickle finds them by name.

use std::time::Duration;

use pyo3::PyErr;
use pyo3::create_exception;
use pyo3::exceptions::PyException;

create_exception!(
    codexrs.errors,
    CodexError,
    PyException,
    "Base class of every error codexrs raises."
);
create_exception!(
    codexrs.errors,
    ConfigError,
    CodexError,
    "A codex config value, override, policy name or path was rejected."
);
create_exception!(
    codexrs.errors,
    CredentialsError,
    ConfigError,
    "The model provider needs a credential (an API key or a login) and codexrs found none."
);
create_exception!(
    codexrs.errors,
    ModelError,
    CodexError,
    "The model provider failed a turn (HTTP status, stream error, malformed stream)."
);
create_exception!(
    codexrs.errors,
    ThreadNotFoundError,
    CodexError,
    "No thread with this id is loaded in this engine."
);
create_exception!(
    codexrs.errors,
    RolloutError,
    CodexError,
    "A rollout file (a stored thread) is missing, truncated, archived or not a codex rollout."
);
create_exception!(
    codexrs.errors,
    EngineClosedError,
    CodexError,
    "The engine, the thread or the codexrs runtime was closed (or this is a forked child)."
);
create_exception!(
    codexrs.errors,
    TurnInProgressError,
    CodexError,
    "The thread already has a turn running that someone is reading."
);
create_exception!(
    codexrs.errors,
    TurnNotSteerableError,
    CodexError,
    "steer() found no running turn to add input to: the turn ended (or cannot be steered)."
);
create_exception!(
    codexrs.errors,
    LoginError,
    CodexError,
    "A ChatGPT login failed: denied, expired, cancelled, or the issuer was unreachable or answered garbage."
);
create_exception!(
    codexrs.errors,
    InternalError,
    CodexError,
    "A bug in codexrs or codex-core (a panic or a broken invariant); the message says where."
);

/// Every failure the native layer can report.
#[derive(Debug)]
pub enum CoreError {
    Config(String),
    /// No credential for a provider that needs one (raised before any request is sent).
    Credentials(String),
    ThreadNotFound(String),
    Rollout(String),
    NotSteerable(String),
    Closed(String),
    Internal(String),
    /// An error codex-core reported while driving a thread or submitting an op.
    Codex(String),
    /// A ChatGPT login that failed (no token in the message).
    Login(String),
}

impl CoreError {
    pub fn into_pyerr(self) -> PyErr {
        match self {
            Self::Config(m) => ConfigError::new_err(m),
            Self::Credentials(m) => CredentialsError::new_err(m),
            Self::ThreadNotFound(m) => ThreadNotFoundError::new_err(m),
            Self::Rollout(m) => RolloutError::new_err(m),
            Self::NotSteerable(m) => TurnNotSteerableError::new_err(m),
            Self::Closed(m) => EngineClosedError::new_err(m),
            Self::Internal(m) => InternalError::new_err(m),
            Self::Codex(m) => CodexError::new_err(m),
            Self::Login(m) => LoginError::new_err(m),
        }
    }

    /// Turns a failed spawned task (a panic or a cancellation) into an error.
    pub fn from_join(err: tokio::task::JoinError, what: &str) -> Self {
        if err.is_panic() {
            let payload = err.into_panic();
            Self::Internal(format!("{what} panicked: {}", crate::panics::payload_text(&*payload)))
        } else {
            Self::Closed(format!("{what} was cancelled"))
        }
    }
}

impl std::fmt::Display for CoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, m) = match self {
            Self::Config(m) => ("config", m),
            Self::Credentials(m) => ("credentials", m),
            Self::ThreadNotFound(m) => ("thread not found", m),
            Self::Rollout(m) => ("rollout", m),
            Self::NotSteerable(m) => ("not steerable", m),
            Self::Closed(m) => ("closed", m),
            Self::Internal(m) => ("internal", m),
            Self::Codex(m) => ("codex", m),
            Self::Login(m) => ("login", m),
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

/// A caller's number of seconds as a [`Duration`], for any float, never panicking (unlike
/// `Duration::from_secs_f64`): `NaN` and negatives are zero; `inf` and values past
/// `Duration::MAX` are `Duration::MAX`, which tokio's and std's timed waits take as "no limit".
/// (Python checks timeouts before they get here; this is the native side's own guard.)
pub fn seconds(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_never_panics() {
        assert_eq!(seconds(1.5), Duration::from_millis(1500));
        assert_eq!(seconds(0.0), Duration::ZERO);
        assert_eq!(seconds(-1.0), Duration::ZERO);
        assert_eq!(seconds(f64::NAN), Duration::ZERO);
        assert_eq!(seconds(f64::NEG_INFINITY), Duration::ZERO);
        assert_eq!(seconds(f64::INFINITY), Duration::MAX);
        assert_eq!(seconds(1e300), Duration::MAX);
        assert_eq!(seconds(f64::MAX), Duration::MAX);
    }
}
