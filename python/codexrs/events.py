"""Typed codex-core events.

Every event codex-core emits on a thread arrives as one of these objects. ``event.type`` is
codex-core's wire name (the serde tag of ``codex_protocol::protocol::EventMsg``) and the fields
carry codex-core's names. Variants without a class of their own arrive as :class:`GenericEvent`
holding the whole payload: nothing is dropped.

Events are decoded in batches straight from the JSON bytes codex-core's events were serialized
to (once, in Rust) by msgspec; no intermediate dicts are built for typed events.
"""

from __future__ import annotations

from typing import Any, Final, Union

import msgspec

__all__ = [
    "AgentMessage",
    "AgentMessageContentDelta",
    "AgentReasoning",
    "AgentReasoningDelta",
    "ApplyPatchApprovalRequest",
    "ApprovalAutoDenied",
    "Duration",
    "ErrorEvent",
    "Event",
    "ExecApprovalRequest",
    "ExecCommandBegin",
    "ExecCommandEnd",
    "ExecCommandOutputDelta",
    "GenericEvent",
    "ItemCompleted",
    "ItemStarted",
    "PatchApplyBegin",
    "PatchApplyEnd",
    "RateLimitSnapshot",
    "RateLimitWindow",
    "ReasoningContentDelta",
    "ReasoningRawContentDelta",
    "SessionConfigured",
    "StreamError",
    "TokenCount",
    "TokenUsage",
    "TokenUsageInfo",
    "TurnAborted",
    "TurnComplete",
    "TurnDiff",
    "TurnStarted",
    "UserMessage",
    "WarningEvent",
    "decode_batch",
]


class _Event(msgspec.Struct, kw_only=True, frozen=True, tag_field="type"):
    """Base of the typed events; ``type`` is the codex-core wire name."""

    @property
    def type(self) -> str:
        """codex-core's wire name of this event (e.g. ``"task_complete"``)."""
        return type(self).__struct_config__.tag  # type: ignore[return-value]


# ---- turn lifecycle -------------------------------------------------------------------------


class TurnStarted(_Event, tag="task_started", kw_only=True, frozen=True):
    """A turn began (codex-core ``EventMsg::TurnStarted``).

    Attributes:
        turn_id: The turn's id (codex's submission id of the user input).
        started_at: Unix time in seconds, if codex recorded it.
        model_context_window: The model's context window in tokens, if known.
    """

    turn_id: str
    trace_id: str | None = None
    started_at: int | None = None
    model_context_window: int | None = None
    collaboration_mode_kind: Any = None


class ErrorEvent(_Event, tag="error", kw_only=True, frozen=True):
    """codex-core reported an error (``EventMsg::Error``); the turn usually fails.

    Attributes:
        message: Human-readable text.
        codex_error_info: codex's classification, e.g. ``"internal_server_error"`` or
            ``{"http_connection_failed": {"http_status_code": 502}}``.
    """

    message: str
    codex_error_info: Any = None


class TurnComplete(_Event, tag="task_complete", kw_only=True, frozen=True):
    """A turn finished (``EventMsg::TurnComplete``).

    Attributes:
        turn_id: The turn's id.
        last_agent_message: The final assistant message, if any.
        error: Set when the turn ended on an error.
        duration_ms: Wall time of the turn in milliseconds (codex's clock).
        time_to_first_token_ms: Milliseconds to the model's first token (codex's clock).
    """

    turn_id: str
    last_agent_message: str | None = None
    error: ErrorEvent | None = None
    started_at: int | None = None
    completed_at: int | None = None
    duration_ms: int | None = None
    time_to_first_token_ms: int | None = None


class TurnAborted(_Event, tag="turn_aborted", kw_only=True, frozen=True):
    """A turn was cut short (``EventMsg::TurnAborted``).

    Attributes:
        turn_id: The turn's id.
        reason: ``"interrupted"``, ``"replaced"``, ``"review_ended"`` or ``"budget_limited"``.
    """

    turn_id: str | None = None
    reason: str
    started_at: int | None = None
    completed_at: int | None = None
    duration_ms: int | None = None


# ---- messages and reasoning -----------------------------------------------------------------


class AgentMessage(_Event, tag="agent_message", kw_only=True, frozen=True):
    """A complete assistant message (``EventMsg::AgentMessage``)."""

    message: str
    phase: Any = None
    memory_citation: Any = None


class AgentMessageContentDelta(_Event, tag="agent_message_content_delta", kw_only=True, frozen=True):
    """A piece of assistant text as it streams (``EventMsg::AgentMessageContentDelta``).

    Attributes:
        delta: The text, exactly as the model streamed it.
        item_id: The message item it belongs to.
    """

    thread_id: str
    turn_id: str
    item_id: str
    delta: str


class ReasoningContentDelta(_Event, tag="reasoning_content_delta", kw_only=True, frozen=True):
    """A piece of a reasoning summary (``EventMsg::ReasoningContentDelta``)."""

    thread_id: str
    turn_id: str
    item_id: str
    delta: str
    summary_index: int = 0


class ReasoningRawContentDelta(_Event, tag="reasoning_raw_content_delta", kw_only=True, frozen=True):
    """A piece of raw reasoning text (``EventMsg::ReasoningRawContentDelta``)."""

    thread_id: str
    turn_id: str
    item_id: str
    delta: str
    content_index: int = 0


class AgentReasoning(_Event, tag="agent_reasoning", kw_only=True, frozen=True):
    """A complete reasoning summary (``EventMsg::AgentReasoning``)."""

    text: str


class AgentReasoningDelta(_Event, tag="agent_reasoning_delta", kw_only=True, frozen=True):
    """Legacy reasoning delta (``EventMsg::AgentReasoningDelta``)."""

    delta: str


class UserMessage(_Event, tag="user_message", kw_only=True, frozen=True):
    """The user input as codex recorded it (``EventMsg::UserMessage``)."""

    message: str
    client_id: str | None = None
    images: list[str] | None = None
    local_images: Any = None
    text_elements: Any = None


# ---- commands and patches -------------------------------------------------------------------


class Duration(msgspec.Struct, frozen=True):
    """A Rust ``std::time::Duration`` as serde writes it."""

    secs: int
    nanos: int

    @property
    def seconds(self) -> float:
        """The duration in seconds."""
        return self.secs + self.nanos / 1e9


class ExecCommandBegin(_Event, tag="exec_command_begin", kw_only=True, frozen=True):
    """A shell command started (``EventMsg::ExecCommandBegin``).

    Attributes:
        call_id: The model's tool call id.
        command: argv of the command.
        cwd: Working directory.
    """

    call_id: str
    process_id: str | None = None
    turn_id: str
    started_at_ms: int = 0
    command: list[str]
    cwd: Any
    parsed_cmd: list[Any]
    source: Any = None
    interaction_input: str | None = None


class ExecCommandOutputDelta(_Event, tag="exec_command_output_delta", kw_only=True, frozen=True):
    """A chunk of a running command's output (``EventMsg::ExecCommandOutputDelta``).

    Attributes:
        stream: ``"stdout"`` or ``"stderr"``.
        chunk: The raw bytes (base64 on the wire, decoded here).
    """

    call_id: str
    stream: str
    chunk: bytes


class ExecCommandEnd(_Event, tag="exec_command_end", kw_only=True, frozen=True):
    """A shell command finished (``EventMsg::ExecCommandEnd``).

    Attributes:
        exit_code: The process exit code.
        aggregated_output: stdout and stderr interleaved as codex captured them.
        duration: How long it ran.
        status: ``"completed"``, ``"failed"`` or ``"declined"``.
    """

    call_id: str
    process_id: str | None = None
    turn_id: str
    completed_at_ms: int = 0
    command: list[str]
    cwd: Any
    parsed_cmd: list[Any]
    source: Any = None
    interaction_input: str | None = None
    stdout: str
    stderr: str
    aggregated_output: str = ""
    exit_code: int
    duration: Duration
    formatted_output: str
    status: str


class PatchApplyBegin(_Event, tag="patch_apply_begin", kw_only=True, frozen=True):
    """codex started applying a patch (``EventMsg::PatchApplyBegin``).

    Attributes:
        changes: Path -> change (``{"add": {"content": ...}}``, ``{"update": {...}}``, ...).
    """

    call_id: str
    turn_id: str = ""
    auto_approved: bool
    changes: dict[str, Any]


class PatchApplyEnd(_Event, tag="patch_apply_end", kw_only=True, frozen=True):
    """A patch was applied or failed (``EventMsg::PatchApplyEnd``)."""

    call_id: str
    turn_id: str = ""
    stdout: str
    stderr: str
    success: bool
    changes: dict[str, Any] = {}
    status: str


class TurnDiff(_Event, tag="turn_diff", kw_only=True, frozen=True):
    """The turn's changes so far as a unified diff (``EventMsg::TurnDiff``)."""

    unified_diff: str


# ---- approvals ------------------------------------------------------------------------------


class ExecApprovalRequest(_Event, tag="exec_approval_request", kw_only=True, frozen=True):
    """codex asks whether it may run a command (``ExecApprovalRequestEvent``).

    Answer it by returning a decision from ``on_approval``; without a handler codexrs denies it.

    Attributes:
        call_id: The tool call id.
        approval_id: The id to answer with (falls back to ``call_id``).
        command: argv of the command.
        reason: Why codex asks, if it said.
    """

    call_id: str
    approval_id: str | None = None
    turn_id: str = ""
    environment_id: str | None = msgspec.field(default=None, name="environmentId")
    started_at_ms: int
    command: list[str]
    cwd: str
    reason: str | None = None
    network_approval_context: Any = None
    proposed_execpolicy_amendment: Any = None
    proposed_network_policy_amendments: Any = None
    additional_permissions: Any = None
    available_decisions: Any = None
    parsed_cmd: list[Any]

    @property
    def effective_approval_id(self) -> str:
        """The id codex expects in the answer."""
        return self.approval_id or self.call_id


class ApplyPatchApprovalRequest(_Event, tag="apply_patch_approval_request", kw_only=True, frozen=True):
    """codex asks whether it may apply a patch (``ApplyPatchApprovalRequestEvent``).

    Attributes:
        changes: Path -> change, as in :class:`PatchApplyBegin`.
        grant_root: A directory codex asks write access to, if any.
    """

    call_id: str
    turn_id: str = ""
    started_at_ms: int
    changes: dict[str, Any]
    reason: str | None = None
    grant_root: str | None = None


class ApprovalAutoDenied(_Event, tag="codexrs_approval_denied", kw_only=True, frozen=True):
    """codexrs (not codex-core) denied an approval request because the thread has no handler.

    Follows the request it answers in the stream.

    Attributes:
        kind: ``"exec"`` or ``"patch"``.
        approval_id: The id the denial was sent with.
        reason: The rejection text codex-core received.
        submitted: Whether codex-core accepted the denial.
    """

    kind: str
    call_id: str
    approval_id: str
    turn_id: str
    reason: str
    submitted: bool
    submit_error: str | None = None


# ---- usage, items, diagnostics --------------------------------------------------------------


class TokenUsage(msgspec.Struct, frozen=True, kw_only=True):
    """Token counts as codex-core reports them (``codex_protocol::protocol::TokenUsage``)."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    total_tokens: int = 0


class TokenUsageInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Thread total and last model call usage (``TokenUsageInfo``)."""

    total_token_usage: TokenUsage
    last_token_usage: TokenUsage
    model_context_window: int | None = None


class RateLimitWindow(msgspec.Struct, frozen=True, kw_only=True):
    """One rate-limit window: percent used, window length in minutes, reset time (unix s)."""

    used_percent: float
    window_minutes: int | None = None
    resets_at: int | None = None


class RateLimitSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """Rate limits as the provider's response headers reported them (codex-core parses the
    ``x-codex-*`` headers); ``None`` fields were not reported."""

    limit_id: str | None = None
    limit_name: str | None = None
    primary: RateLimitWindow | None = None
    secondary: RateLimitWindow | None = None
    credits: Any = None
    individual_limit: Any = None
    spend_control_reached: bool | None = None
    plan_type: Any = None
    rate_limit_reached_type: Any = None


class TokenCount(_Event, tag="token_count", kw_only=True, frozen=True):
    """Usage and rate limits after a model call (``EventMsg::TokenCount``)."""

    info: TokenUsageInfo | None = None
    rate_limits: RateLimitSnapshot | None = None


class ItemStarted(_Event, tag="item_started", kw_only=True, frozen=True):
    """A turn item began (``EventMsg::ItemStarted``); ``item`` is codex's ``TurnItem``."""

    thread_id: str
    turn_id: str
    item: dict[str, Any]
    started_at_ms: int = 0


class ItemCompleted(_Event, tag="item_completed", kw_only=True, frozen=True):
    """A turn item finished (``EventMsg::ItemCompleted``); ``item`` is codex's ``TurnItem``."""

    thread_id: str
    turn_id: str
    item: dict[str, Any]
    completed_at_ms: int = 0


class WarningEvent(_Event, tag="warning", kw_only=True, frozen=True):
    """A non-fatal warning from codex-core (``EventMsg::Warning``)."""

    message: str


class StreamError(_Event, tag="stream_error", kw_only=True, frozen=True):
    """The model stream failed and codex may retry (``EventMsg::StreamError``)."""

    message: str
    codex_error_info: Any = None
    additional_details: str | None = None


class SessionConfigured(_Event, tag="session_configured", kw_only=True, frozen=True):
    """The thread's settings as codex-core resolved them (``SessionConfiguredEvent``)."""

    session_id: str
    thread_id: str
    model: str
    model_provider_id: str
    approval_policy: Any = None
    thread_name: str | None = None
    cwd: Any = None
    reasoning_effort: Any = None
    rollout_path: str | None = None


class GenericEvent(msgspec.Struct, frozen=True):
    """Any codex-core event without a class of its own: its wire name and whole payload.

    Attributes:
        type: codex-core's wire name.
        payload: Every field of the event, as decoded JSON.
    """

    type: str
    payload: dict[str, Any]


_Typed = Union[
    TurnStarted,
    TurnComplete,
    TurnAborted,
    AgentMessage,
    AgentMessageContentDelta,
    ReasoningContentDelta,
    ReasoningRawContentDelta,
    AgentReasoning,
    AgentReasoningDelta,
    UserMessage,
    ExecCommandBegin,
    ExecCommandOutputDelta,
    ExecCommandEnd,
    PatchApplyBegin,
    PatchApplyEnd,
    TurnDiff,
    ExecApprovalRequest,
    ApplyPatchApprovalRequest,
    ApprovalAutoDenied,
    TokenCount,
    ItemStarted,
    ItemCompleted,
    ErrorEvent,
    WarningEvent,
    StreamError,
    SessionConfigured,
]

Event = Union[_Typed, GenericEvent]
"""Every event type a stream yields."""


TYPED_EVENTS: Final[dict[str, type[msgspec.Struct]]] = {
    str(cls.__struct_config__.tag): cls for cls in _Typed.__args__  # type: ignore[attr-defined]
}


class Envelope(msgspec.Struct, frozen=True):
    """codex-core's ``Event``: the submission id it belongs to and the event itself."""

    id: str
    msg: _Typed


class _RawEnvelope(msgspec.Struct, frozen=True):
    id: str
    msg: msgspec.Raw


class _TypeOnly(msgspec.Struct):
    type: str


_batch_decoder = msgspec.json.Decoder(list[Envelope])
_raw_decoder = msgspec.json.Decoder(list[_RawEnvelope])
_type_decoder = msgspec.json.Decoder(_TypeOnly)
_dict_decoder = msgspec.json.Decoder(dict[str, Any])
_one_decoders: dict[str, msgspec.json.Decoder[Any]] = {tag: msgspec.json.Decoder(cls) for tag, cls in TYPED_EVENTS.items()}


def _decode_one(raw: msgspec.Raw) -> Event:
    tag = _type_decoder.decode(raw).type
    decoder = _one_decoders.get(tag)
    if decoder is not None:
        try:
            event: Event = decoder.decode(raw)
            return event
        except msgspec.ValidationError:
            pass  # a codex field changed shape: keep everything, untyped
    payload = _dict_decoder.decode(raw)
    payload.pop("type", None)
    return GenericEvent(tag, payload)


def decode_batch(batch: bytes) -> list[tuple[str, Event]]:
    """Decodes one batch (a JSON array of codex ``Event``s) into ``(submission_id, event)``.

    Args:
        batch: UTF-8 JSON bytes as the native layer produced them.

    Returns:
        One pair per event, in codex-core's order.
    """
    try:
        return [(e.id, e.msg) for e in _batch_decoder.decode(batch)]
    except msgspec.ValidationError:
        # Some event has no class (or changed shape): decode one by one, nothing dropped.
        return [(e.id, _decode_one(e.msg)) for e in _raw_decoder.decode(batch)]
