"""Typed codex-core events.

Every event codex-core emits on a thread arrives as one of these objects. ``event.type`` is
codex-core's wire name (the serde tag of ``codex_protocol::protocol::EventMsg``) and the fields
carry codex-core's names and types. There is one class per ``EventMsg`` variant of the linked
codex-core (``TurnComplete`` for ``task_complete``, ``ExecCommandEnd`` for ``exec_command_end``,
...), generated from codex-protocol's own schema into :mod:`codexrs._protocol` and re-exported
here, with the payload types they use (``TokenUsage``, ``RateLimitSnapshot``, ``Duration``,
``FileChangeAdd``, ...). Turn items (``ItemStarted.item``, ``ItemCompleted.item``,
``TurnResult.items``) are typed too: see :mod:`codexrs.items`.

Two kinds of event are not codex's:

* codexrs's own events, wire names starting ``codexrs_``, declared below in one place;
* :class:`GenericEvent`: an event whose wire name the linked codex-core does not know (a newer
  core), with its whole payload; or, with ``decode_error`` set, a known event whose payload did
  not decode (a bug: it is logged once per variant, and nothing is dropped).

Events are decoded in batches straight from the JSON bytes codex-core's events were serialized
to (once, in Rust) by msgspec; no intermediate dicts are built for typed events.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Final, Literal, Union, cast

import msgspec

from . import _protocol
from ._protocol import *  # noqa: F403  (every generated event and payload class)
from ._protocol import EVENT_CLASSES, CodexEvent, EventMsg

__all__ = [
    "CodexrsEncodeError",
    "CodexrsPanic",
    "Event",
    "GenericEvent",
    "RequestDenied",
    "RequestKind",
    "RequestTimedOut",
    "TYPED_EVENTS",
    "decode_batch",
]
__all__ += _protocol.__all__

_log = logging.getLogger("codexrs")


# ---- codexrs's own events (not codex-core's) -----------------------------------------------


RequestKind = Literal["exec", "patch", "permissions", "user_input", "elicitation", "dynamic_tool"]
"""The six kinds of request codex-core sends that wait for an answer (see :mod:`codexrs.requests`,
which re-exports it)."""


class _RequestDenial(CodexEvent, kw_only=True, frozen=True):
    """The fields of codexrs's two denials of a request (:class:`RequestDenied`, :class:`RequestTimedOut`)."""

    kind: RequestKind
    key: str
    turn_id: str
    reason: str
    submitted: bool
    submit_error: str | None = None

    @property
    def call_id(self) -> str:
        """Deprecated: the same as :attr:`key`."""
        warnings.warn(f"{type(self).__name__}.call_id is deprecated: use .key", DeprecationWarning, stacklevel=2)
        return self.key

    @property
    def approval_id(self) -> str:
        """Deprecated: the same as :attr:`key`."""
        warnings.warn(f"{type(self).__name__}.approval_id is deprecated: use .key", DeprecationWarning, stacklevel=2)
        return self.key


class RequestDenied(_RequestDenial, tag="codexrs_request_denied", kw_only=True, frozen=True):
    """codexrs (not codex-core) denied a request at once because the thread has no handler
    for its kind (see :mod:`codexrs.requests`); any of the six kinds. Follows the request it
    answers in the stream.

    Formerly ``ApprovalAutoDenied``, wire name ``codexrs_approval_denied`` (the old name still
    imports from here, with a ``DeprecationWarning``). Its ``call_id`` and ``approval_id``
    always equalled ``key``: they remain as deprecated properties, no longer in its JSON.

    Attributes:
        kind: The request kind (:data:`RequestKind`).
        key: The id the denial was sent with (:func:`codexrs.requests.key_of`): an approval's
            ``effective_approval_id`` or ``call_id``, a question's turn id, an elicitation's
            server and request id, a tool call's ``callId``.
        turn_id: The turn that asked.
        reason: The rejection text codex-core received.
        submitted: Whether codex-core accepted the denial.
        submit_error: codex-core's error when it did not.
    """


class RequestTimedOut(_RequestDenial, tag="codexrs_request_timed_out", kw_only=True, frozen=True):
    """codexrs (not codex-core) denied a request nobody answered within the thread's
    ``request_timeout`` (see :mod:`codexrs.requests`). An answer after this is refused.

    Its fields are :class:`RequestDenied`'s: ``kind``, ``key``, ``turn_id``, ``reason``,
    ``submitted``, ``submit_error`` (``call_id`` and ``approval_id``, which equalled ``key``,
    are deprecated properties).
    """


class CodexrsEncodeError(CodexEvent, tag="codexrs_encode_error", kw_only=True, frozen=True):
    """codexrs could not serialize a codex-core event (a codex bug); ``message`` is serde's error."""

    message: str


class CodexrsPanic(CodexEvent, tag="codexrs_panic", kw_only=True, frozen=True):
    """A panic (a bug in codex-core or codexrs) hit this turn: inside codex-core's turn task or
    inside codexrs's event pump. codexrs ends the turn as ``"failed"`` (``Thread.run()`` raises
    :class:`~codexrs.InternalError` naming the panic), interrupts it in codex-core so the thread
    takes new turns, and logs the panic on ``codexrs.core.panic``; nothing is printed to stderr.

    Attributes:
        turn_id: The turn the panic hit (``""`` if none was running).
        message: The panic's message, as Rust gave it.
        location: ``file:line:column`` of the panic, when known.
        interrupted: Whether codex-core accepted the interrupt that ends the turn there.
        interrupt_error: codex-core's error when it did not.
    """

    turn_id: str
    message: str
    location: str | None = None
    interrupted: bool = False
    interrupt_error: str | None = None


CODEXRS_EVENTS: Final[dict[str, type[CodexEvent]]] = {
    "codexrs_request_denied": RequestDenied,
    "codexrs_request_timed_out": RequestTimedOut,
    "codexrs_encode_error": CodexrsEncodeError,
    "codexrs_panic": CodexrsPanic,
}
"""codexrs's own events by wire name: the one place they are declared."""


class GenericEvent(msgspec.Struct, frozen=True):
    """An event without a typed class here: its wire name and whole payload.

    Attributes:
        type: The wire name.
        payload: Every field of the event, as decoded JSON.
        decode_error: ``None`` for a wire name the linked codex-core does not know (a newer
            core). For a known event whose payload failed to decode, msgspec's message: a bug
            in codexrs's generated types, also logged (once per variant) on the ``codexrs``
            logger.
    """

    type: str
    payload: dict[str, Any]
    decode_error: str | None = None


_Typed = Union[EventMsg, RequestDenied, RequestTimedOut, CodexrsEncodeError, CodexrsPanic]

Event = Union[_Typed, GenericEvent]
"""Every event type a stream yields."""

TYPED_EVENTS: Final[dict[str, type[CodexEvent]]] = {**EVENT_CLASSES, **CODEXRS_EVENTS}
"""Every typed event class by wire name: codex-core's variants, then codexrs's own."""


class Envelope(msgspec.Struct, frozen=True, gc=False):
    """codex-core's ``Event``: the submission id it belongs to and the event itself (a
    :class:`GenericEvent` when decoded one by one). What a thread's reader queues: kept as
    msgspec decoded it, with no pair or copy per event, and not tracked by Python's cyclic
    garbage collector (it holds a string and an event, never itself)."""

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
_warned: set[str] = set()


def _decode_one(raw: msgspec.Raw) -> Event:
    tag = _type_decoder.decode(raw).type
    decoder = _one_decoders.get(tag)
    error = None
    if decoder is not None:
        try:
            event: Event = decoder.decode(raw)
            return event
        except msgspec.ValidationError as exc:
            error = str(exc)
            if tag not in _warned:
                _warned.add(tag)
                _log.warning("codexrs could not decode a %r event (%s); it arrives as GenericEvent", tag, error)
    payload = _dict_decoder.decode(raw)
    payload.pop("type", None)
    return GenericEvent(tag, payload, error)


def decode_batch(batch: bytes) -> list[tuple[str, Event]]:
    """Decodes one batch (a JSON array of codex ``Event``s) into ``(submission_id, event)``.

    Args:
        batch: UTF-8 JSON bytes as the native layer produced them.

    Returns:
        One pair per event, in codex-core's order; an event that has no class, or whose
        payload does not decode, is a :class:`GenericEvent`, never dropped.
    """
    return [(e.id, e.msg) for e in decode_envelopes(batch)]


def decode_envelopes(batch: bytes) -> list[Envelope]:
    """:func:`decode_batch` as msgspec gives it: one :class:`Envelope` per event, no pairs."""
    try:
        return _batch_decoder.decode(batch)
    except msgspec.ValidationError:
        # Some event has no class (or changed shape): decode one by one, nothing dropped.
        return [_generic(e) for e in _raw_decoder.decode(batch)]


def _generic(raw: _RawEnvelope) -> Envelope:
    # An Envelope may carry a GenericEvent (its field's type is what the one-call decode takes).
    return Envelope(raw.id, cast(Any, _decode_one(raw.msg)))


#: One engine-wide read's entry: ``(token, thread_id, lag_s, events, ended)``.
Entry = tuple[int, str, float, list[Envelope], bool]
_entries_decoder = msgspec.json.Decoder(list[Entry])
_raw_entries_decoder = msgspec.json.Decoder(list[tuple[int, str, float, msgspec.Raw, bool]])


def decode_entries(buffer: bytes) -> list[Entry]:
    """Decodes one engine-wide read (``EngineWakeups.take_batches``): one entry per thread.

    Args:
        buffer: UTF-8 JSON bytes: ``[[token, thread_id, lag_s, [event, ...], ended], ...]``.

    Returns:
        ``(token, thread_id, lag_s, events, ended)`` per thread, ``events`` as
        :func:`decode_envelopes` gives them (nothing dropped: an event without a class is a
        :class:`GenericEvent`), as msgspec made them: one msgspec call decodes the whole
        buffer when every event has its class; otherwise each thread's events are decoded on
        their own.
    """
    try:
        return _entries_decoder.decode(buffer)
    except msgspec.ValidationError:
        return [(t, tid, lag, decode_envelopes(raw), ended)
                for t, tid, lag, raw, ended in _raw_entries_decoder.decode(buffer)]


#: Old public names still importable from here, each warning once it is used: old -> new.
_DEPRECATED: Final = {"ApprovalAutoDenied": "RequestDenied", "RequestKindName": "RequestKind"}


def __getattr__(name: str) -> Any:
    new = _DEPRECATED.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"codexrs.events.{name} is deprecated: use codexrs.events.{new}", DeprecationWarning, stacklevel=2)
    return globals()[new]
