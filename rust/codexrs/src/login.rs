//! Logging in with a ChatGPT plan, as `codex login` does, with codex's own login crate.
//!
//! Two flows, each started by an `Engine` method whose `Pending` result is a [`Login`]:
//!
//! * the browser flow (`codex_login::run_login_server`): a callback server on 127.0.0.1 (port
//!   1455, else codex's fallback 1457, as the CLI binds it) and an authorize URL with a PKCE
//!   challenge; the browser's redirect to the callback carries the code, which codex exchanges
//!   for tokens and stores in `codex_home`;
//! * the device-code flow (`codex_login::request_device_code`, then
//!   `complete_device_code_login`): a verification URL and a one-time code, and codex polling
//!   the issuer until the code is approved.
//!
//! Both write the login where `codex login` writes it (the same `auth.json`, or the keyring the
//! config names), with codex's client id and workspace restriction; a failed login writes
//! nothing. The [`Login`] handle reports the outcome once: the account (as `account()`), or a
//! `LoginError` naming the cause (tokens never appear in it). Dropping the handle, or
//! `cancel()`, stops the flow.

use std::future::Future;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::time::Instant;

use codex_login::ServerOptions;
use codex_login::ShutdownHandle;
use codex_protocol::config_types::ForcedLoginMethod;
use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;
use tokio::sync::watch;

use crate::account;
use crate::config::ThreadOptions;
use crate::engine::Inner;
use crate::errors::CoreError;
use crate::errors::CoreResult;
use crate::errors::LoginError;
use crate::logs::redact;
use crate::pending::Finish;
use crate::pending::Pending;
use crate::pending::wake_pair;
use crate::runtime;

/// The outcome of a login, kept for every `wait`: the account as JSON text, or the message of
/// its `LoginError`.
type Outcome = Result<String, String>;

struct State {
    slot: Mutex<Option<Outcome>>,
    done: watch::Sender<bool>,
    writer: UnixStream,
    cancelled: AtomicBool,
}

impl State {
    fn finish(&self, outcome: Outcome) {
        let mut slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(outcome);
        }
        drop(slot);
        self.done.send_replace(true);
        let _ = (&self.writer).write(&[1]);
    }
}

/// A ChatGPT login in progress (Python: `codexrs._native.Login`); see the module docs.
#[pyclass(module = "codexrs._native", frozen)]
pub struct Login {
    state: Arc<State>,
    reader: UnixStream,
    url: String,
    user_code: Option<String>,
    /// The browser flow's callback server, stopped by `cancel`.
    shutdown: Option<ShutdownHandle>,
    /// The flow's task (the device flow's polling), aborted by `cancel`.
    flow: tokio::task::AbortHandle,
}

impl Login {
    /// Runs `flow` (the part of the login after its URL is known) and records its outcome: on
    /// success, the engine's auth is reloaded and the account becomes the outcome.
    fn launch<F>(
        inner: Arc<Inner>,
        url: String,
        user_code: Option<String>,
        shutdown: Option<ShutdownHandle>,
        flow: F,
    ) -> CoreResult<Self>
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let handle = runtime::handle()?;
        let (reader, writer) = wake_pair()?;
        let (done, _) = watch::channel(false);
        let state = Arc::new(State { slot: Mutex::new(None), done, writer, cancelled: AtomicBool::new(false) });
        let task = handle.spawn(flow);
        let abort = task.abort_handle();
        let driver_state = Arc::clone(&state);
        handle.spawn(async move {
            let ended = task.await;
            let cancelled = driver_state.cancelled.load(Ordering::Acquire);
            let outcome = match ended {
                Ok(Ok(())) => logged_in(&inner).await,
                Ok(Err(_)) | Err(_) if cancelled => Err("the login was cancelled (cancel() was called)".to_string()),
                Ok(Err(message)) => Err(redact(&message)),
                Err(join) if join.is_panic() => Err(format!(
                    "the login failed: codex's login panicked: {}",
                    crate::panics::payload_text(&*join.into_panic())
                )),
                Err(_) => Err("the login was cancelled".to_string()),
            };
            driver_state.finish(outcome);
        });
        Ok(Self { state, reader, url, user_code, shutdown, flow: abort })
    }

    fn stop(&self) {
        if *self.state.done.borrow() {
            return;
        }
        self.state.cancelled.store(true, Ordering::Release);
        match &self.shutdown {
            Some(server) => server.shutdown(),
            None => self.flow.abort(),
        }
    }
}

/// The account after a successful login, read back through the engine's auth manager.
async fn logged_in(inner: &Inner) -> Outcome {
    inner.auth.reload().await;
    let account = account::account(inner).await.map_err(|e| format!("the login was stored, but reading it back failed: {e}"))?;
    Ok(account.to_string())
}

#[pymethods]
impl Login {
    /// The URL to open: the browser flow's authorize URL, or the device flow's verification page.
    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The device flow's one-time code (`None` for the browser flow).
    #[getter]
    fn user_code(&self) -> Option<&str> {
        self.user_code.as_deref()
    }

    /// The file descriptor that becomes readable when the login has ended (for asyncio).
    fn fileno(&self) -> i32 {
        self.reader.as_raw_fd()
    }

    /// Whether the login has ended (logged in, failed or cancelled).
    fn done(&self) -> bool {
        *self.state.done.borrow()
    }

    /// Stops the login (the callback server, or the polling); a no-op once it has ended.
    fn cancel(&self) {
        self.stop();
    }

    /// Blocks, without the GIL, until the login ends or `timeout` seconds pass (`None`: no
    /// limit); the account as a dict. `TimeoutError` past the timeout (the login goes on);
    /// `LoginError` if it failed or was cancelled. Ctrl-C raises and leaves the login running.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let handle = runtime::handle()?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(crate::errors::seconds(t)));
        let mut done = self.state.done.subscribe();
        while !*done.borrow() {
            let slice = match (timeout, deadline) {
                (None, _) | (Some(_), None) => runtime::SLICE,
                (Some(t), Some(deadline)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(PyTimeoutError::new_err(format!(
                            "the login did not complete within {t} seconds; it is still running: wait again, or cancel() it"
                        )));
                    }
                    left.min(runtime::SLICE)
                }
            };
            py.detach(|| {
                handle.block_on(async {
                    let _ = tokio::time::timeout(slice, done.wait_for(|d| *d)).await;
                })
            });
            py.check_signals()?;
        }
        self.result(py)
    }

    /// The outcome once `done()`: the account as a dict, or `LoginError`. Readable any number
    /// of times.
    fn result(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let outcome = self.state.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        match outcome {
            Some(Ok(text)) => Ok(py.import("json")?.call_method1("loads", (text,))?.unbind()),
            Some(Err(message)) => Err(LoginError::new_err(message)),
            None => Err(CoreError::Internal("the login has not ended yet".into()).into_pyerr()),
        }
    }
}

impl Drop for Login {
    /// A login nobody can wait for any more is stopped (a no-op once it has ended).
    fn drop(&mut self) {
        self.stop();
    }
}

/// codex's login options for this engine's config, as `codex login` builds them: codex's
/// client id, the config's credential store and workspace restriction, and `issuer` (codex's
/// own when `None`).
async fn options(inner: &Inner, issuer: Option<String>, open_browser: bool) -> CoreResult<ServerOptions> {
    let config = inner.settings.build(&ThreadOptions::default()).await?;
    if config.forced_login_method == Some(ForcedLoginMethod::Api) {
        return Err(CoreError::Login(
            "ChatGPT login is disabled by the codex config (forced_login_method = \"api\"): log in with an API key".into(),
        ));
    }
    let mut options = ServerOptions::new(
        config.codex_home.to_path_buf(),
        codex_login::oauth_client_id(),
        config.forced_chatgpt_workspace_id.clone(),
        config.cli_auth_credentials_store_mode,
        config.auth_keyring_backend_kind(),
        Some(config.auth_route_config()),
    );
    options.open_browser = open_browser;
    if let Some(issuer) = issuer {
        let issuer = issuer.trim().trim_end_matches('/').to_string();
        let scheme_ok = issuer.starts_with("https://") || issuer.starts_with("http://");
        if !scheme_ok || issuer.len() <= "https://".len() || issuer.contains(['?', '#', ' ']) {
            return Err(CoreError::Config(format!("issuer must be an http(s) base URL such as https://auth.openai.com, not {issuer:?}")));
        }
        options.issuer = issuer;
    }
    Ok(options)
}

/// The browser flow's failure, by codex's error kind: denied (by the issuer or a workspace
/// restriction), interrupted (another login took the callback port), or failed.
fn browser_error(err: std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::PermissionDenied => format!("the ChatGPT login was denied: {err}"),
        std::io::ErrorKind::Interrupted => {
            "the login was cancelled: another login started on the same callback port".to_string()
        }
        _ => format!("the ChatGPT login failed: {err}"),
    }
}

/// The device flow's failure: codex polls while the issuer answers 403 or 404 (pending), for
/// at most 15 minutes; any other answer ends it with its status.
fn device_error(err: std::io::Error) -> String {
    let text = err.to_string();
    if text.contains("timed out") {
        format!("the device code expired: {text}")
    } else if text.contains("status 410") {
        format!("the device code expired: the issuer answered {}", text.rsplit("status ").next().unwrap_or(&text))
    } else if text.contains("device auth failed with status") {
        format!("the issuer refused the device code: {text}")
    } else if err.kind() == std::io::ErrorKind::PermissionDenied {
        format!("the ChatGPT login was denied: {text}")
    } else {
        format!("the device code login failed: {text}")
    }
}

/// Starts the browser flow; the `Pending`'s result is a [`Login`] whose `url` is the authorize
/// URL to open.
pub(crate) fn start_browser(inner: Arc<Inner>, open_browser: bool, issuer: Option<String>) -> PyResult<Pending> {
    Ok(Pending::spawn("ChatGPT login", async move {
        let options = options(&inner, issuer, open_browser).await?;
        // Binding retries for a few seconds when the port is taken (codex's loop sleeps).
        let server = tokio::task::spawn_blocking(move || codex_login::run_login_server(options))
            .await
            .map_err(|e| CoreError::from_join(e, "ChatGPT login"))?
            .map_err(|e| CoreError::Login(format!("cannot start the login's callback server on 127.0.0.1: {e}")))?;
        let url = server.auth_url.clone();
        let shutdown = server.cancel_handle();
        let flow = async move { server.block_until_done().await.map_err(browser_error) };
        let login = Login::launch(inner, url, None, Some(shutdown), flow)?;
        let finish: Finish = Box::new(move |py| Ok(Py::new(py, login)?.into_any()));
        Ok(finish)
    })?)
}

/// Starts the device-code flow: asks the issuer for a code; the `Pending`'s result is a
/// [`Login`] with the verification URL and the code.
pub(crate) fn start_device_code(inner: Arc<Inner>, issuer: Option<String>) -> PyResult<Pending> {
    Ok(Pending::spawn("device code login", async move {
        let options = options(&inner, issuer, false).await?;
        let code = codex_login::request_device_code(&options).await.map_err(|e| {
            CoreError::Login(redact(&format!("cannot start a device code login with the issuer {}: {e}", options.issuer)))
        })?;
        let (url, user_code) = (code.verification_url.clone(), code.user_code.clone());
        let flow = async move { codex_login::complete_device_code_login(options, code).await.map_err(device_error) };
        let login = Login::launch(inner, url, Some(user_code), None, flow)?;
        let finish: Finish = Box::new(move |py| Ok(Py::new(py, login)?.into_any()));
        Ok(finish)
    })?)
}

#[cfg(test)]
mod tests {
    use std::io::Error;
    use std::io::ErrorKind;

    use super::browser_error;
    use super::device_error;

    #[test]
    fn failures_name_their_cause() {
        let denied = Error::new(ErrorKind::PermissionDenied, "Sign-in failed: access_denied");
        assert_eq!(browser_error(denied), "the ChatGPT login was denied: Sign-in failed: access_denied");
        assert!(browser_error(Error::new(ErrorKind::Interrupted, "Login cancelled")).starts_with("the login was cancelled"));
        let gone = Error::other("device auth failed with status 410 Gone");
        assert_eq!(device_error(gone), "the device code expired: the issuer answered 410 Gone");
        let late = Error::other("device auth timed out after 15 minutes");
        assert_eq!(device_error(late), "the device code expired: device auth timed out after 15 minutes");
        let refused = Error::other("device auth failed with status 400 Bad Request");
        assert_eq!(device_error(refused), "the issuer refused the device code: device auth failed with status 400 Bad Request");
    }
}
