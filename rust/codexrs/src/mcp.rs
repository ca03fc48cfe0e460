//! A thread's MCP servers: their tools as codex-core's connection manager lists them, and a
//! refresh from the current config (`Op::RefreshMcpServers`, applied by codex at the next turn).

use std::sync::Arc;

use codex_core::CodexThread;
use codex_protocol::protocol::McpServerRefreshConfig;
use codex_protocol::protocol::Op;
use serde_json::Value;

use crate::config::ThreadOptions;
use crate::engine::Inner;
use crate::errors::CoreError;
use crate::errors::CoreResult;

/// Every tool of the thread's MCP servers (codex `ToolInfo`s: server, model-visible name and
/// namespace, the MCP tool definition), waiting for servers still starting.
pub async fn tools(thread: &Arc<CodexThread>) -> CoreResult<Value> {
    let runtime = thread.current_mcp_runtime().await;
    let tools = runtime.manager().list_all_tools().await;
    serde_json::to_value(tools).map_err(|e| CoreError::Internal(format!("MCP tools: {e}")))
}

/// Asks the thread to reload its MCP servers from the engine's current config (config.toml
/// and overrides, read again now); codex restarts them before its next turn.
pub(crate) async fn refresh(inner: &Inner, thread: &Arc<CodexThread>) -> CoreResult<()> {
    let config = inner.settings.build(&ThreadOptions::default()).await?;
    let encode = |what: &str, v: Result<Value, serde_json::Error>| {
        v.map_err(|e| CoreError::Internal(format!("MCP refresh: cannot encode {what}: {e}")))
    };
    let refresh = McpServerRefreshConfig {
        mcp_servers: encode("servers", serde_json::to_value(config.mcp_servers.get()))?,
        mcp_oauth_credentials_store_mode: encode("OAuth store", serde_json::to_value(config.mcp_oauth_credentials_store_mode))?,
        auth_keyring_backend_kind: encode("keyring", serde_json::to_value(config.auth_keyring_backend_kind()))?,
    };
    thread
        .submit(Op::RefreshMcpServers { config: refresh })
        .await
        .map_err(|e| CoreError::Codex(format!("MCP refresh: {e}")))?;
    Ok(())
}
