//! Ops beyond plain user input, built from the JSON Python sends: per-turn and between-turn
//! thread settings (`Op::UserInput`'s `thread_settings`, `Op::ThreadSettings`), compaction,
//! rollback, review and a user shell command.

use std::path::PathBuf;

use codex_core::ThreadManager;
use codex_protocol::config_types::ReasoningSummary;
use codex_protocol::openai_models::ReasoningEffort;
use codex_protocol::protocol::Op;
use codex_protocol::protocol::ReviewRequest;
use codex_protocol::protocol::ReviewTarget;
use codex_protocol::protocol::SandboxPolicy;
use codex_protocol::protocol::ThreadSettingsOverrides;
use codex_protocol::protocol::TurnEnvironmentSelections;
use codex_protocol::user_input::UserInput;
use codex_utils_absolute_path::AbsolutePathBuf;
use serde::Deserialize;
use serde_json::Value;

use crate::config::parse_approval_policy;
use crate::errors::CoreError;
use crate::errors::CoreResult;

/// The settings a turn (or `Thread.update`) may change, in codexrs's spelling.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    model: Option<String>,
    effort: Option<ReasoningEffort>,
    summary: Option<ReasoningSummary>,
    approval_policy: Option<String>,
    sandbox: Option<String>,
    cwd: Option<PathBuf>,
}

fn sandbox_policy(mode: &str) -> CoreResult<SandboxPolicy> {
    Ok(match mode {
        "read-only" => SandboxPolicy::new_read_only_policy(),
        "workspace-write" => SandboxPolicy::new_workspace_write_policy(),
        "danger-full-access" => SandboxPolicy::DangerFullAccess,
        other => {
            return Err(CoreError::Config(format!(
                "unknown sandbox {other:?}; expected read-only, workspace-write or danger-full-access"
            )));
        }
    })
}

impl Settings {
    pub fn parse(json: &str) -> CoreResult<Settings> {
        serde_json::from_str(json).map_err(|e| CoreError::Config(format!("bad thread settings ({e}): {json}")))
    }

    /// codex's overrides for these settings; `cwd` needs the thread manager's environments.
    pub fn overrides(self, manager: Option<&ThreadManager>) -> CoreResult<ThreadSettingsOverrides> {
        let mut out = ThreadSettingsOverrides {
            model: self.model,
            effort: self.effort.map(Some),
            summary: self.summary,
            approval_policy: self.approval_policy.as_deref().map(parse_approval_policy).transpose()?,
            sandbox_policy: self.sandbox.as_deref().map(sandbox_policy).transpose()?,
            ..Default::default()
        };
        if let Some(cwd) = self.cwd {
            let manager = manager.ok_or_else(|| CoreError::Closed("the engine is closed".into()))?;
            let cwd = AbsolutePathBuf::from_absolute_path(&cwd)
                .map_err(|e| CoreError::Config(format!("cwd {} must be an absolute path: {e}", cwd.display())))?;
            let environments = manager.default_environment_selections(&cwd, std::slice::from_ref(&cwd));
            out.environments = Some(TurnEnvironmentSelections::new(cwd, environments));
        }
        Ok(out)
    }
}

/// The op for a thread operation other than user input, by name (`settings`, `compact`,
/// `rollback`, `review`, `shell`), with its JSON arguments.
pub fn thread_op(kind: &str, args_json: &str, manager: Option<&ThreadManager>) -> CoreResult<Op> {
    let args: Value = serde_json::from_str(args_json)
        .map_err(|e| CoreError::Config(format!("bad {kind} arguments ({e}): {args_json}")))?;
    let bad = |what: &str| CoreError::Config(format!("{kind}: {what}"));
    Ok(match kind {
        "settings" => Op::ThreadSettings { thread_settings: Settings::parse(args_json)?.overrides(manager)? },
        "compact" => Op::Compact,
        "rollback" => {
            let n = args.get("num_turns").and_then(Value::as_u64).filter(|n| *n > 0);
            let n = n.ok_or_else(|| bad("num_turns must be a positive integer"))?;
            Op::ThreadRollback { num_turns: u32::try_from(n).map_err(|_| bad("num_turns is too large"))? }
        }
        "review" => {
            let target: ReviewTarget = serde_json::from_value(args.get("target").cloned().unwrap_or(Value::Null))
                .map_err(|e| bad(&format!("not a codex ReviewTarget ({e})")))?;
            let hint = args.get("hint").and_then(Value::as_str).map(str::to_string);
            Op::Review { review_request: ReviewRequest { target, user_facing_hint: hint } }
        }
        "shell" => {
            let command = args.get("command").and_then(Value::as_str).map(str::trim).unwrap_or_default();
            if command.is_empty() {
                return Err(bad("the command must not be empty"));
            }
            Op::RunUserShellCommand { command: command.to_string() }
        }
        other => return Err(CoreError::Config(format!("unknown thread operation {other:?}"))),
    })
}

/// `Op::UserInput` with optional per-turn settings and a final-output JSON schema.
pub fn user_input(
    items_json: &str,
    settings_json: Option<&str>,
    output_schema_json: Option<&str>,
    manager: Option<&ThreadManager>,
) -> CoreResult<Op> {
    let items = input_items(items_json)?;
    let thread_settings = match settings_json {
        Some(json) => Settings::parse(json)?.overrides(manager)?,
        None => ThreadSettingsOverrides::default(),
    };
    let final_output_json_schema = output_schema_json
        .map(|json| {
            serde_json::from_str::<Value>(json)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| CoreError::Config(format!("output_schema must be a JSON Schema object: {json}")))
        })
        .transpose()?;
    Ok(Op::UserInput {
        items,
        final_output_json_schema,
        responsesapi_client_metadata: None,
        additional_context: Default::default(),
        thread_settings,
    })
}

/// A JSON list of codex `UserInput` items, refusing an empty one.
pub fn input_items(items_json: &str) -> CoreResult<Vec<UserInput>> {
    let items: Vec<UserInput> = serde_json::from_str(items_json)
        .map_err(|e| CoreError::Config(format!("input is not a list of codex UserInput items: {e}")))?;
    if items.is_empty() {
        return Err(CoreError::Config("input is empty".into()));
    }
    Ok(items)
}

/// codex's reasons a steer was refused, as text (codex-core's `SteerInputError` has none).
pub fn steer_error(err: codex_core::SteerInputError) -> String {
    use codex_core::SteerInputError as E;
    match err {
        E::NoActiveTurn(_) => "the turn has ended: there is no active turn to steer".into(),
        E::ExpectedTurnMismatch { expected, actual } => {
            format!("turn {expected} has ended: the active turn is {actual}")
        }
        E::ActiveTurnNotSteerable { turn_kind } => format!("a {turn_kind:?} turn cannot be steered"),
        E::EmptyInput => "steer input must not be empty".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_codex_values_and_refuse_unknown_keys() {
        let settings = Settings::parse(r#"{"model":"m","effort":"high","summary":"concise","approval_policy":"never","sandbox":"read-only"}"#)
            .unwrap()
            .overrides(None)
            .unwrap();
        assert_eq!(settings.model.as_deref(), Some("m"));
        assert_eq!(settings.effort, Some(Some(ReasoningEffort::High)));
        assert_eq!(settings.summary, Some(ReasoningSummary::Concise));
        assert!(settings.sandbox_policy.is_some() && settings.approval_policy.is_some());
        assert!(Settings::parse(r#"{"modle":"m"}"#).is_err());
        assert!(Settings::parse(r#"{"sandbox":"sideways"}"#).unwrap().overrides(None).is_err());
    }

    #[test]
    fn thread_ops_check_their_arguments() {
        assert!(matches!(thread_op("rollback", r#"{"num_turns":2}"#, None), Ok(Op::ThreadRollback { num_turns: 2 })));
        assert!(thread_op("rollback", r#"{"num_turns":0}"#, None).is_err());
        assert!(matches!(
            thread_op("review", r#"{"target":{"type":"uncommittedChanges"}}"#, None),
            Ok(Op::Review { .. })
        ));
        assert!(thread_op("review", r#"{"target":{"type":"nope"}}"#, None).is_err());
        assert!(thread_op("shell", r#"{"command":"  "}"#, None).is_err());
        assert!(thread_op("fly", "{}", None).is_err());
    }
}
