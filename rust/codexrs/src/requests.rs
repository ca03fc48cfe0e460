//! The six requests codex-core sends that wait for an answer, and codexrs's rule for them:
//! every one is answered or denied, never left waiting.
//!
//! Kinds: exec approval, patch approval, permission request, user-input question, MCP
//! elicitation, dynamic tool call. For each request the pump sees:
//! - no Python handler for its kind: denied here, at once, and a `codexrs_request_denied`
//!   event follows the request in the stream;
//! - a handler: the request is registered as pending under its kind and key (the id codex
//!   expects in the answer), and, when the thread has a `request_timeout`, a timer denies it
//!   if nobody answered in time, with a `codexrs_request_timed_out` event.
//!
//! An answer (`ThreadHandle.respond`) takes the request out of the pending set first, so an
//! answer that comes after the timeout's denial (or a second answer) is refused harmlessly:
//! codex-core never sees two answers to one request.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering;
use std::time::Duration;

use codex_core::CodexThread;
use codex_protocol::approvals::ElicitationAction;
use codex_protocol::dynamic_tools::DynamicToolCallOutputContentItem;
use codex_protocol::dynamic_tools::DynamicToolResponse;
use codex_protocol::mcp::RequestId;
use codex_protocol::protocol::Event;
use codex_protocol::protocol::EventMsg;
use codex_protocol::protocol::Op;
use codex_protocol::protocol::ReviewDecision;
use codex_protocol::request_permissions::RequestPermissionsResponse;
use codex_protocol::request_user_input::RequestUserInputResponse;
use serde::Deserialize;
use serde_json::Value;
use serde_json::json;
use tokio::sync::mpsc;

use crate::errors::CoreError;
use crate::errors::CoreResult;
use crate::wakeups::Waker;

/// Why codexrs denied a request nobody can answer.
pub const NO_HANDLER: &str =
    "denied by codexrs: the thread has no handler for this request (pass on_approval= or on_request= to thread_start)";
/// Why codexrs denied a request nobody answered in time.
pub const TIMED_OUT: &str = "denied by codexrs: no answer within the thread's request_timeout";

/// An encoded event in a thread's queue, with when it was queued (for the event lag). The
/// pump queues codex's events; this module queues its denials there too (a request's timer,
/// after the pump moved on), and the engine its extension events.
pub type Queued = (std::time::Instant, Vec<u8>);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Exec,
    Patch,
    Permissions,
    UserInput,
    Elicitation,
    DynamicTool,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Exec, Kind::Patch, Kind::Permissions, Kind::UserInput, Kind::Elicitation, Kind::DynamicTool];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::Patch => "patch",
            Kind::Permissions => "permissions",
            Kind::UserInput => "user_input",
            Kind::Elicitation => "elicitation",
            Kind::DynamicTool => "dynamic_tool",
        }
    }

    pub fn parse(name: &str) -> CoreResult<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name).ok_or_else(|| {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            CoreError::Config(format!("unknown request kind {name:?}; expected one of {}", names.join(", ")))
        })
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// One request waiting for an answer: what is needed to answer it.
#[derive(Clone, Debug)]
pub struct Request {
    kind: Kind,
    /// The id codex expects in the answer (for an elicitation: server name, 0x1f, request id).
    key: String,
    turn_id: Option<String>,
    server_name: String,
    request_id: Option<RequestId>,
}

/// The request `msg` is, if it is one of the six.
pub fn request_of(msg: &EventMsg) -> Option<Request> {
    let plain = |kind, key: &str, turn_id: &str| Request {
        kind,
        key: key.to_string(),
        turn_id: (!turn_id.is_empty()).then(|| turn_id.to_string()),
        server_name: String::new(),
        request_id: None,
    };
    Some(match msg {
        EventMsg::ExecApprovalRequest(r) => plain(Kind::Exec, &r.effective_approval_id(), &r.turn_id),
        EventMsg::ApplyPatchApprovalRequest(r) => plain(Kind::Patch, &r.call_id, &r.turn_id),
        EventMsg::RequestPermissions(r) => plain(Kind::Permissions, &r.call_id, &r.turn_id),
        // codex keys a pending question by its turn (the submission id), not the call id.
        EventMsg::RequestUserInput(r) => plain(Kind::UserInput, &r.turn_id, &r.turn_id),
        EventMsg::DynamicToolCallRequest(r) => plain(Kind::DynamicTool, &r.call_id, &r.turn_id),
        EventMsg::ElicitationRequest(r) => Request {
            kind: Kind::Elicitation,
            key: format!("{}\u{1f}{}", r.server_name, r.id),
            turn_id: r.turn_id.clone(),
            server_name: r.server_name.clone(),
            request_id: Some(r.id.clone()),
        },
        _ => return None,
    })
}

/// An elicitation answer as Python sends it.
#[derive(Deserialize)]
struct ElicitationAnswer {
    decision: ElicitationAction,
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    meta: Option<Value>,
}

fn parse<T: for<'de> Deserialize<'de>>(what: &str, json: &str) -> CoreResult<T> {
    serde_json::from_str(json).map_err(|e| CoreError::Config(format!("not a codex {what} ({e}): {json}")))
}

impl Request {
    /// The op that answers this request with `answer_json` (the kind's codex answer type).
    pub fn answer(&self, answer_json: &str) -> CoreResult<Op> {
        let id = self.key.clone();
        Ok(match self.kind {
            Kind::Exec => Op::ExecApproval {
                id,
                turn_id: self.turn_id.clone(),
                decision: parse::<ReviewDecision>("ReviewDecision", answer_json)?,
            },
            Kind::Patch => Op::PatchApproval { id, decision: parse("ReviewDecision", answer_json)? },
            Kind::Permissions => Op::RequestPermissionsResponse {
                id,
                response: parse::<RequestPermissionsResponse>("RequestPermissionsResponse", answer_json)?,
            },
            Kind::UserInput => Op::UserInputAnswer {
                id,
                response: parse::<RequestUserInputResponse>("RequestUserInputResponse", answer_json)?,
            },
            Kind::DynamicTool => Op::DynamicToolResponse {
                id,
                response: parse::<DynamicToolResponse>("DynamicToolResponse", answer_json)?,
            },
            Kind::Elicitation => {
                let answer: ElicitationAnswer = parse("elicitation answer", answer_json)?;
                Op::ResolveElicitation {
                    server_name: self.server_name.clone(),
                    request_id: self.request_id.clone().unwrap_or(RequestId::Integer(0)),
                    decision: answer.decision,
                    content: answer.content,
                    meta: answer.meta,
                }
            }
        })
    }

    /// The op that refuses this request: approvals denied, no permission granted, an empty
    /// answer to a question, an elicitation declined, a tool call failed with `reason`.
    pub fn denial(&self, reason: &str) -> Op {
        let id = self.key.clone();
        match self.kind {
            Kind::Exec => Op::ExecApproval {
                id,
                turn_id: self.turn_id.clone(),
                decision: ReviewDecision::Denied { rejection: reason.to_string() },
            },
            Kind::Patch => Op::PatchApproval { id, decision: ReviewDecision::Denied { rejection: reason.to_string() } },
            Kind::Permissions => Op::RequestPermissionsResponse {
                id,
                response: RequestPermissionsResponse {
                    permissions: Default::default(),
                    scope: Default::default(),
                    strict_auto_review: false,
                },
            },
            Kind::UserInput => Op::UserInputAnswer { id, response: RequestUserInputResponse { answers: HashMap::new() } },
            Kind::DynamicTool => Op::DynamicToolResponse {
                id,
                response: DynamicToolResponse {
                    content_items: vec![DynamicToolCallOutputContentItem::InputText { text: reason.to_string() }],
                    success: false,
                },
            },
            Kind::Elicitation => Op::ResolveElicitation {
                server_name: self.server_name.clone(),
                request_id: self.request_id.clone().unwrap_or(RequestId::Integer(0)),
                decision: ElicitationAction::Decline,
                content: None,
                meta: None,
            },
        }
    }

    /// A codexrs event about this request (`codexrs_request_denied`, `codexrs_request_timed_out`).
    fn event(&self, wire: &str, sub_id: &str, reason: &str, submitted: Result<(), String>) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": sub_id,
            "msg": {
                "type": wire,
                "kind": self.kind.name(),
                "key": self.key,
                "turn_id": self.turn_id.clone().unwrap_or_default(),
                "reason": reason,
                "submitted": submitted.is_ok(),
                "submit_error": submitted.err(),
            },
        }))
        .unwrap_or_default()
    }
}

/// A thread's pending requests and its rule for them.
pub struct Requests {
    /// Bit per [`Kind`] that a Python handler answers.
    handled: AtomicU8,
    timeout: Option<Duration>,
    pending: Mutex<HashMap<(Kind, String), Request>>,
}

impl Requests {
    pub fn new(handled: &[Kind], timeout: Option<Duration>) -> Arc<Self> {
        let bits = handled.iter().fold(0u8, |acc, k| acc | k.bit());
        Arc::new(Self { handled: AtomicU8::new(bits), timeout, pending: Mutex::new(HashMap::new()) })
    }

    pub fn handles(&self, kind: Kind) -> bool {
        self.handled.load(Ordering::Acquire) & kind.bit() != 0
    }

    pub fn set_handled(&self, kind: Kind, on: bool) {
        if on {
            self.handled.fetch_or(kind.bit(), Ordering::AcqRel);
        } else {
            self.handled.fetch_and(!kind.bit(), Ordering::AcqRel);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Kind, String), Request>> {
        self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes a pending request out (to answer it); `None` if it was answered or denied already.
    pub fn take(&self, kind: Kind, key: &str) -> Option<Request> {
        self.lock().remove(&(kind, key.to_string()))
    }

    /// The pump's part: for a request event, deny it now (returning the event that says so)
    /// or register it, with a timer when the thread has a timeout.
    pub async fn on_event(
        self: &Arc<Self>,
        thread: &Arc<CodexThread>,
        event: &Event,
        tx: &mpsc::Sender<Queued>,
        waker: &Arc<Waker>,
    ) -> Option<Vec<u8>> {
        let request = request_of(&event.msg)?;
        if !self.handles(request.kind) {
            let submitted = thread.submit(request.denial(NO_HANDLER)).await.map(|_| ()).map_err(|e| e.to_string());
            return Some(request.event("codexrs_request_denied", &event.id, NO_HANDLER, submitted));
        }
        self.lock().insert((request.kind, request.key.clone()), request.clone());
        if let Some(timeout) = self.timeout {
            let requests = Arc::clone(self);
            let thread = Arc::clone(thread);
            // A weak sender: a pending timer must not keep the stream open after the pump ends.
            let tx = tx.downgrade();
            let waker = Arc::clone(waker);
            let sub_id = event.id.clone();
            tokio::spawn(crate::panics::contained("a request's timeout", async move {
                tokio::time::sleep(timeout).await;
                let Some(request) = requests.take(request.kind, &request.key) else {
                    return; // answered in time
                };
                let submitted = thread.submit(request.denial(TIMED_OUT)).await.map(|_| ()).map_err(|e| e.to_string());
                if let Some(tx) = tx.upgrade() {
                    let event = request.event("codexrs_request_timed_out", &sub_id, TIMED_OUT, submitted);
                    let _ = tx.send((std::time::Instant::now(), event)).await;
                    waker.wake();
                }
            }));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_name_that_parses_back() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.name()).unwrap(), kind);
        }
        assert!(Kind::parse("nope").is_err());
    }

    #[test]
    fn an_answer_is_taken_once() {
        let requests = Requests::new(&[Kind::Exec], None);
        let request = Request {
            kind: Kind::Exec,
            key: "a".into(),
            turn_id: None,
            server_name: String::new(),
            request_id: None,
        };
        requests.lock().insert((Kind::Exec, "a".into()), request);
        assert!(requests.take(Kind::Exec, "a").is_some());
        assert!(requests.take(Kind::Exec, "a").is_none(), "a second answer must find nothing");
    }

    #[test]
    fn answers_parse_into_each_kinds_op_and_junk_is_refused() {
        let make = |kind| Request {
            kind,
            key: "k".into(),
            turn_id: Some("t".into()),
            server_name: "srv".into(),
            request_id: Some(RequestId::Integer(3)),
        };
        assert!(matches!(make(Kind::Exec).answer(r#""approved""#), Ok(Op::ExecApproval { .. })));
        assert!(matches!(make(Kind::UserInput).answer(r#"{"answers":{"q":{"answers":["yes"]}}}"#), Ok(Op::UserInputAnswer { .. })));
        assert!(matches!(
            make(Kind::DynamicTool).answer(r#"{"contentItems":[{"type":"inputText","text":"ok"}],"success":true}"#),
            Ok(Op::DynamicToolResponse { .. })
        ));
        assert!(matches!(
            make(Kind::Elicitation).answer(r#"{"decision":"accept"}"#),
            Ok(Op::ResolveElicitation { decision: ElicitationAction::Accept, .. })
        ));
        assert!(make(Kind::Elicitation).answer(r#"{"decision":"maybe"}"#).is_err());
        assert!(make(Kind::Exec).answer("[]").is_err());
        for kind in Kind::ALL {
            let _ = make(kind).denial("no");
        }
    }
}
