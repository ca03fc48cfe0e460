//! Turning what Python passed into codex-core's config inputs.
//!
//! Python sends config overrides as one JSON object of dotted codex keys (as `codex -c`), e.g.
//! `{"model": "gpt-5.5", "model_providers.mock.base_url": "http://127.0.0.1:8000/v1"}`. Each
//! value becomes a `toml::Value`; `null` is refused because TOML has no null.

use std::path::PathBuf;

use codex_core::config::Config;
use codex_core::config::ConfigBuilder;
use codex_core::config::ConfigOverrides;
use codex_protocol::config_types::SandboxMode;
use codex_protocol::protocol::AskForApproval;
use serde_json::Value as Json;
use toml::Value as Toml;

use crate::errors::CoreError;
use crate::errors::CoreResult;

/// Defaults codexrs applies before the caller's overrides (which win): an embedded engine
/// must not call out to the network at startup on its own.
pub const CODEXRS_DEFAULTS: &[(&str, bool)] = &[
    ("check_for_update_on_startup", false),
    ("analytics.enabled", false),
    ("features.plugins", false),
];

/// The helper executable codex-core re-executes, and its alias links.
#[derive(Clone, Debug, Default)]
pub struct HelperPaths {
    pub self_exe: Option<PathBuf>,
    pub linux_sandbox_exe: Option<PathBuf>,
    pub execve_wrapper_exe: Option<PathBuf>,
}

/// Per-thread choices layered over the engine's settings.
#[derive(Clone, Debug, Default)]
pub struct ThreadOptions {
    pub cwd: Option<PathBuf>,
    pub model: Option<String>,
    pub approval_policy: Option<AskForApproval>,
    pub sandbox: Option<SandboxMode>,
    pub overrides: Vec<(String, Toml)>,
}

/// Everything needed to build a codex `Config`.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    pub codex_home: PathBuf,
    pub cwd: Option<PathBuf>,
    pub overrides: Vec<(String, Toml)>,
    pub helper: HelperPaths,
}

impl EngineSettings {
    /// Builds a codex `Config` from codexrs defaults, the engine's overrides, then the thread's.
    pub async fn build(&self, thread: &ThreadOptions) -> CoreResult<Config> {
        let mut overrides: Vec<(String, Toml)> = CODEXRS_DEFAULTS
            .iter()
            .map(|(k, v)| ((*k).to_string(), Toml::Boolean(*v)))
            .collect();
        overrides.extend(self.overrides.iter().cloned());
        overrides.extend(thread.overrides.iter().cloned());
        let harness = ConfigOverrides {
            cwd: thread.cwd.clone().or_else(|| self.cwd.clone()),
            model: thread.model.clone(),
            approval_policy: thread.approval_policy,
            sandbox_mode: thread.sandbox,
            codex_self_exe: self.helper.self_exe.clone(),
            codex_linux_sandbox_exe: self.helper.linux_sandbox_exe.clone(),
            main_execve_wrapper_exe: self.helper.execve_wrapper_exe.clone(),
            ..Default::default()
        };
        ConfigBuilder::default()
            .codex_home(self.codex_home.clone())
            .cli_overrides(overrides)
            .harness_overrides(harness)
            .build()
            .await
            .map_err(|e| CoreError::Config(format!("codex rejected the configuration: {e}")))
    }
}

/// Parses a JSON object of dotted keys into codex's `-c` override pairs.
pub fn parse_overrides(json: &str) -> CoreResult<Vec<(String, Toml)>> {
    let value: Json = serde_json::from_str(json)
        .map_err(|e| CoreError::Config(format!("config is not valid JSON: {e}")))?;
    let Json::Object(map) = value else {
        return Err(CoreError::Config("config must be a mapping of codex keys to values".into()));
    };
    map.into_iter()
        .map(|(key, value)| {
            if key.is_empty() || key.split('.').any(str::is_empty) {
                return Err(CoreError::Config(format!("config key {key:?} is not a dotted codex key")));
            }
            let value = to_toml(&key, value)?;
            Ok((key, value))
        })
        .collect()
}

fn to_toml(key: &str, value: Json) -> CoreResult<Toml> {
    Ok(match value {
        Json::Null => {
            return Err(CoreError::Config(format!(
                "config key {key:?} is None: TOML has no null; leave the key out instead"
            )));
        }
        Json::Bool(b) => Toml::Boolean(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Toml::Integer(i),
            None => Toml::Float(n.as_f64().ok_or_else(|| {
                CoreError::Config(format!("config key {key:?}: number {n} does not fit TOML"))
            })?),
        },
        Json::String(s) => Toml::String(s),
        Json::Array(items) => {
            Toml::Array(items.into_iter().map(|v| to_toml(key, v)).collect::<CoreResult<_>>()?)
        }
        Json::Object(map) => Toml::Table(
            map.into_iter()
                .map(|(k, v)| Ok((k.clone(), to_toml(&format!("{key}.{k}"), v)?)))
                .collect::<CoreResult<_>>()?,
        ),
    })
}

/// Parses an approval policy name: `untrusted`, `on-request`, `on-failure`, `never`.
pub fn parse_approval_policy(name: &str) -> CoreResult<AskForApproval> {
    serde_json::from_value(Json::String(name.to_string())).map_err(|_| {
        CoreError::Config(format!(
            "unknown approval policy {name:?}: expected 'untrusted', 'on-request', 'on-failure' or 'never'"
        ))
    })
}

/// Parses a sandbox mode name: `read-only`, `workspace-write`, `danger-full-access`.
pub fn parse_sandbox(name: &str) -> CoreResult<SandboxMode> {
    serde_json::from_value(Json::String(name.to_string())).map_err(|_| {
        CoreError::Config(format!(
            "unknown sandbox {name:?}: expected 'read-only', 'workspace-write' or 'danger-full-access'"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_keep_types_and_refuse_null() {
        let pairs = parse_overrides(
            r#"{"model": "gpt-5.5", "a.b": 3, "f": 0.5, "on": true, "l": [1, "x"], "t": {"k": "v"}}"#,
        )
        .unwrap();
        let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get("model"), Toml::String("gpt-5.5".into()));
        assert_eq!(get("a.b"), Toml::Integer(3));
        assert_eq!(get("f"), Toml::Float(0.5));
        assert_eq!(get("on"), Toml::Boolean(true));
        assert_eq!(get("l"), Toml::Array(vec![Toml::Integer(1), Toml::String("x".into())]));
        assert!(matches!(get("t"), Toml::Table(t) if t["k"] == Toml::String("v".into())));
        assert!(matches!(parse_overrides(r#"{"x": null}"#), Err(CoreError::Config(m)) if m.contains("None")));
        assert!(matches!(parse_overrides("[1]"), Err(CoreError::Config(_))));
        assert!(matches!(parse_overrides(r#"{"a..b": 1}"#), Err(CoreError::Config(_))));
    }

    #[test]
    fn policies_parse_codex_names_only() {
        assert_eq!(parse_approval_policy("never").unwrap(), AskForApproval::Never);
        assert_eq!(parse_approval_policy("on-request").unwrap(), AskForApproval::OnRequest);
        assert!(parse_approval_policy("sometimes").is_err());
        assert_eq!(parse_sandbox("workspace-write").unwrap(), SandboxMode::WorkspaceWrite);
        assert!(parse_sandbox("none").is_err());
    }
}
