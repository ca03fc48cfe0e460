//! Who codexrs is to the model provider, and the account and models codex-core knows.
//!
//! codexrs identifies itself as codexrs: the `originator` header is `codexrs` (codex's default
//! is `codex_cli_rs`, the CLI's) and the user agent names codexrs's and codex-core's versions.
//! Login, logout and the account read and write `codex_home` exactly as `codex login` does (the
//! same auth storage), so an existing login works and a codexrs login works for the CLI.

use std::sync::Once;

use codex_login::AuthCredentialsStoreMode;
use codex_login::CODEX_ACCESS_TOKEN_ENV_VAR;
use codex_login::CODEX_API_KEY_ENV_VAR;
use codex_login::OPENAI_API_KEY_ENV_VAR;
use codex_login::auth::default_client;
use codex_models_manager::manager::RefreshStrategy;
use serde_json::Value;
use serde_json::json;

use crate::config::ThreadOptions;
use crate::engine::Inner;
use crate::errors::CoreError;
use crate::errors::CoreResult;

/// The crates.io package codex-core is linked from.
pub const CODEX_CORE_PACKAGE: &str = "typeduck-codex-execpolicy==0.6.0";
/// What codexrs calls itself in the `originator` header.
pub const ORIGINATOR: &str = "codexrs";

/// Sets codexrs's originator and user-agent suffix, once per process, before any request.
pub fn identify() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Fails only if codex already answered with its default (nothing was sent yet) or the
        // CODEX_INTERNAL_ORIGINATOR_OVERRIDE variable says otherwise: codex's own rule wins.
        let _ = default_client::set_default_originator(ORIGINATOR.to_string());
        if let Ok(mut suffix) = default_client::USER_AGENT_SUFFIX.lock() {
            *suffix = Some(format!("codexrs {}; codex-core {CODEX_CORE_PACKAGE}", env!("CARGO_PKG_VERSION")));
        }
    });
}

async fn config(inner: &Inner) -> CoreResult<codex_core::config::Config> {
    inner.settings.build(&ThreadOptions::default()).await
}

/// Whether `var` holds a non-blank value (codex's own test for a key in the environment).
fn env_set(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !v.trim().is_empty())
}

/// Checks, before a thread is started (so before any request), that its model provider has the
/// credential it needs, by codex-core's rule for the provider (`ModelProviderInfo`):
///
/// 1. `aws`, `auth` (a command) or `experimental_bearer_token`: the provider brings its own.
/// 2. `env_key`: that variable must be set (codex-core sends it, whatever login there is).
/// 3. `requires_openai_auth` (the built-in `openai`): codex's login (`CODEX_API_KEY`,
///    `CODEX_ACCESS_TOKEN`, the login stored in `codex_home`), read again if none was cached;
///    else codexrs's addition: `OPENAI_API_KEY`, which becomes this thread's provider `env_key`.
/// 4. Any other provider needs nothing (a local model, codexrs's scripted model).
///
/// Errors: `CoreError::Credentials`, naming where codexrs looked and how to log in.
pub(crate) async fn check_credentials(inner: &Inner, config: &mut codex_core::config::Config) -> CoreResult<()> {
    let provider = &config.model_provider;
    let id = &config.model_provider_id;
    if provider.aws.is_some() || provider.auth.is_some() || provider.experimental_bearer_token.is_some() {
        return Ok(());
    }
    if let Some(var) = &provider.env_key {
        if env_set(var) {
            return Ok(());
        }
        let how = provider.env_key_instructions.as_deref().map(|i| format!(" ({i})")).unwrap_or_default();
        return Err(CoreError::Credentials(format!(
            "model provider {id:?} takes its API key from the environment variable {var} (its env_key), \
             which is not set{how}: set {var}, or give the provider an experimental_bearer_token"
        )));
    }
    if !provider.requires_openai_auth {
        return Ok(());
    }
    if inner.auth.auth_cached().is_some() {
        return Ok(());
    }
    inner.auth.reload().await;
    if inner.auth.auth_cached().is_some() {
        return Ok(());
    }
    if env_set(OPENAI_API_KEY_ENV_VAR) {
        config.model_provider.env_key = Some(OPENAI_API_KEY_ENV_VAR.to_string());
        return Ok(());
    }
    let home = config.codex_home.display();
    let stored = match config.cli_auth_credentials_store_mode {
        AuthCredentialsStoreMode::File => format!("{home}/auth.json"),
        AuthCredentialsStoreMode::Keyring => format!("the OS keyring (for {home})"),
        AuthCredentialsStoreMode::Auto => format!("the OS keyring and {home}/auth.json"),
        AuthCredentialsStoreMode::Ephemeral => "this process's memory".to_string(),
    };
    Err(CoreError::Credentials(format!(
        "model provider {id:?} needs an OpenAI API key or a ChatGPT login, and codexrs found none: it looked at \
         the variables {OPENAI_API_KEY_ENV_VAR}, {CODEX_API_KEY_ENV_VAR} and {CODEX_ACCESS_TOKEN_ENV_VAR}, a login in {stored}, \
         and the provider's env_key and experimental_bearer_token. \
         To log in: run `codexrs login --codex-home {home}` (a ChatGPT plan; --device-code without a browser, \
         --api-key for an API key), call Codex.login_chatgpt() or Codex.login_api_key(key), or set {OPENAI_API_KEY_ENV_VAR}"
    )))
}

/// Stores `api_key` as codex's login in `codex_home` (what `codex login --with-api-key` does).
pub(crate) async fn login_api_key(inner: &Inner, api_key: String) -> CoreResult<Value> {
    if api_key.trim().is_empty() {
        return Err(CoreError::Config("the API key is empty".into()));
    }
    let config = config(inner).await?;
    codex_login::login_with_api_key(
        &config.codex_home,
        &api_key,
        config.cli_auth_credentials_store_mode,
        config.auth_keyring_backend_kind(),
    )
    .map_err(|e| CoreError::Config(format!("cannot store the login in {}: {e}", config.codex_home.display())))?;
    inner.auth.reload().await;
    account(inner).await
}

/// Removes codex's login from `codex_home`; whether there was one.
pub(crate) async fn logout(inner: &Inner) -> CoreResult<Value> {
    let config = config(inner).await?;
    let removed = codex_login::logout(&config.codex_home, config.cli_auth_credentials_store_mode, config.auth_keyring_backend_kind())
        .map_err(|e| CoreError::Config(format!("cannot remove the login from {}: {e}", config.codex_home.display())))?;
    inner.auth.reload().await;
    Ok(Value::Bool(removed))
}

/// The account codex is logged in with: `{"auth_mode", "email", "plan", "account_id"}`, or
/// `None` when not logged in. Only what codex's stored credentials say; no secret.
pub(crate) async fn account(inner: &Inner) -> CoreResult<Value> {
    let Some(auth) = inner.auth.auth_cached() else {
        return Ok(Value::Null);
    };
    Ok(json!({
        "auth_mode": serde_json::to_value(auth.auth_mode()).unwrap_or(Value::Null),
        "email": auth.get_account_email(),
        "plan": auth.account_plan_type().and_then(|p| serde_json::to_value(p).ok()),
        "account_id": auth.get_account_id(),
    }))
}

/// codex-core's model list (`ThreadManager::list_models`), fetched from the provider when not
/// cached, else codex's bundled catalogue.
/// The account's current rate limits from codex's backend (ChatGPT auth only), stored in the
/// engine (marked `"backend"`) and returned: GET `<chatgpt_base_url>/wham/usage` (or
/// `/api/codex/usage` when the base URL is not ChatGPT's `backend-api`), the endpoint codex's own
/// `account/rateLimits/read` asks, with the login's bearer token and account id, mapped to codex's
/// `RateLimitSnapshot` (`limit_window_seconds` become `window_minutes`, `reset_at` `resets_at`).
pub(crate) async fn fetch_rate_limits(inner: &Inner) -> CoreResult<Value> {
    let auth = inner.auth.auth().await.filter(|auth| auth.is_chatgpt_auth()).ok_or_else(|| {
        CoreError::Config(
            "fresh rate limits come from codex's backend, which needs a ChatGPT login (`codexrs login`, Codex.login_chatgpt()); \
             with an API key, rate limits arrive with each response"
                .into(),
        )
    })?;
    let token = auth.get_token().map_err(|e| CoreError::Config(format!("the ChatGPT login has no token: {e}")))?;
    let base = config(inner).await?.chatgpt_base_url;
    let base = base.trim_end_matches('/');
    let url = if base.contains("/backend-api") { format!("{base}/wham/usage") } else { format!("{base}/api/codex/usage") };
    let mut request = default_client::create_client_without_request_logging().get(url.as_str()).bearer_auth(token);
    if let Some(account_id) = auth.get_account_id() {
        request = request.header("ChatGPT-Account-Id", account_id);
    }
    let response = request.send().await.map_err(|e| CoreError::Codex(format!("GET {url}: {e}")))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| CoreError::Codex(format!("GET {url}: {e}")))?;
    if !status.is_success() {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        return Err(CoreError::Codex(format!("GET {url}: HTTP {status}: {text}")));
    }
    let payload: Value =
        serde_json::from_slice(&body).map_err(|e| CoreError::Codex(format!("GET {url}: the answer is not JSON: {e}")))?;
    inner.rate_limits.set_backend(usage_snapshot(&payload));
    Ok(inner.rate_limits.backend_snapshot().unwrap_or(Value::Null))
}

/// codex's `RateLimitSnapshot` from the backend's usage payload.
fn usage_snapshot(payload: &Value) -> Value {
    let window = |w: Option<&Value>| match w.filter(|w| w.is_object()) {
        None => Value::Null,
        Some(w) => json!({
            "used_percent": w.get("used_percent").and_then(Value::as_f64).unwrap_or(0.0),
            "window_minutes": w.get("limit_window_seconds").and_then(Value::as_i64).map(|s| s / 60),
            "resets_at": w.get("reset_at").and_then(Value::as_i64),
        }),
    };
    let limits = payload.get("rate_limit");
    let credits = payload.get("credits").filter(|c| c.is_object()).map(|c| {
        json!({
            "has_credits": c.get("has_credits").and_then(Value::as_bool).unwrap_or(false),
            "unlimited": c.get("unlimited").and_then(Value::as_bool).unwrap_or(false),
            "balance": c.get("balance").map(|b| b.as_str().map(str::to_string).unwrap_or_else(|| b.to_string())),
        })
    });
    json!({
        "limit_id": "codex",
        "primary": window(limits.and_then(|l| l.get("primary_window"))),
        "secondary": window(limits.and_then(|l| l.get("secondary_window"))),
        "credits": credits,
        "plan_type": payload.get("plan_type").filter(|p| p.is_string()),
    })
}

pub(crate) async fn models(inner: &Inner) -> CoreResult<Value> {
    let config = config(inner).await?;
    let models = inner.manager.list_models(RefreshStrategy::OnlineIfUncached, config.http_client_factory()).await;
    serde_json::to_value(models).map_err(|e| CoreError::Internal(format!("model list: {e}")))
}
