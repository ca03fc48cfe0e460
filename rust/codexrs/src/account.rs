//! Who codexrs is to the model provider, and the account and models codex-core knows.
//!
//! codexrs identifies itself as codexrs: the `originator` header is `codexrs` (codex's default
//! is `codex_cli_rs`, the CLI's) and the user agent names codexrs's and codex-core's versions.
//! Login, logout and the account read and write `codex_home` exactly as `codex login` does (the
//! same auth storage), so an existing login works and a codexrs login works for the CLI.

use std::sync::Once;

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
pub(crate) async fn models(inner: &Inner) -> CoreResult<Value> {
    let config = config(inner).await?;
    let models = inner.manager.list_models(RefreshStrategy::OnlineIfUncached, config.http_client_factory()).await;
    serde_json::to_value(models).map_err(|e| CoreError::Internal(format!("model list: {e}")))
}
