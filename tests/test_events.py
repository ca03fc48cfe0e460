"""Event decoding: typed classes for known events, nothing lost for the rest."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any, cast

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from codexrs import _protocol
from codexrs import events as ev
from codexrs._core.turn import _ZERO, _ThreadCore, _Turn


def _batch(*events: tuple[str, dict[str, Any]]) -> bytes:
    return json.dumps([{"id": sid, "msg": msg} for sid, msg in events]).encode()


@given(st.lists(st.text(), min_size=1, max_size=20), st.text(min_size=1))
def test_deltas_round_trip(deltas: list[str], turn_id: str) -> None:
    batch = _batch(
        *[
            (turn_id, {"type": "agent_message_content_delta", "thread_id": "t", "turn_id": turn_id, "item_id": "i", "delta": d})
            for d in deltas
        ]
    )
    decoded = ev.decode_batch(batch)
    assert [sid for sid, _ in decoded] == [turn_id] * len(deltas)
    assert [e.delta for _, e in decoded if isinstance(e, ev.AgentMessageContentDelta)] == deltas
    assert all(e.type == "agent_message_content_delta" for _, e in decoded)


@given(
    st.dictionaries(
        st.text(min_size=1).filter(lambda k: k != "type"),
        st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)),
        max_size=5,
    )
)
def test_unknown_events_keep_their_whole_payload(payload: dict[str, Any]) -> None:
    batch = _batch(("s", {"type": "some_future_event", **payload}), ("s", {"type": "warning", "message": "w"}))
    decoded = [e for _, e in ev.decode_batch(batch)]
    assert decoded[0] == ev.GenericEvent("some_future_event", payload)
    assert decoded[1] == ev.WarningEvent(message="w")


def test_known_event_with_a_changed_shape_is_kept_untyped_and_said_once(caplog: pytest.LogCaptureFixture) -> None:
    batch = _batch(("s", {"type": "warning", "message": 5}), ("s", {"type": "warning", "message": 6}))
    ev._warned.discard("warning")  # as if this process had not met a bad 'warning' yet
    with caplog.at_level(logging.WARNING, logger="codexrs"):
        decoded = [e for _, e in ev.decode_batch(batch)]
    assert [(e.type, e.payload) for e in decoded if isinstance(e, ev.GenericEvent)] == [
        ("warning", {"message": 5}),
        ("warning", {"message": 6}),
    ]
    assert all(isinstance(e, ev.GenericEvent) and e.decode_error for e in decoded)
    assert len([r for r in caplog.records if "'warning'" in r.getMessage()]) == 1  # once per variant


def test_a_changed_task_complete_still_ends_the_turn() -> None:
    """Turn tracking keys off the wire name and submission id, not the decoded class."""
    batch = _batch(
        ("t1", {"type": "agent_message", "message": "partial answer"}),
        ("t1", {"type": "task_complete", "turn_id": 7, "last_agent_message": ["not", "a", "string"]}),
    )
    decoded = ev.decode_batch(batch)
    end = decoded[-1][1]
    assert isinstance(end, ev.GenericEvent) and end.type == "task_complete" and end.decode_error
    core = _ThreadCore(cast(Any, SimpleNamespace(id="thread")), None, None)  # observe() alone: no native call
    turn = _Turn(id="t1", usage_start=_ZERO, usage_end=_ZERO)
    for sub_id, event in decoded:
        core.observe(sub_id, event, turn)
    assert turn.done and turn.status == "completed"
    assert turn.result().final_response == "partial answer"


def test_every_codex_variant_and_codexrs_event_has_one_class() -> None:
    assert set(ev.TYPED_EVENTS) == set(_protocol.EVENT_CLASSES) | {
        "codexrs_request_denied",
        "codexrs_request_timed_out",
        "codexrs_encode_error",
        "codexrs_panic",
    }
    assert not hasattr(ev, "AgentReasoningDelta")  # gone from the linked codex-core


def test_a_request_denial_decodes_with_one_key_and_the_old_names_still_work_with_a_warning() -> None:
    denial: dict[str, Any] = {"kind": "user_input", "key": "turn-7", "turn_id": "turn-7", "reason": "no handler", "submitted": True}
    ((_, event),) = ev.decode_batch(_batch(("s1", {"type": "codexrs_request_denied", **denial})))
    assert isinstance(event, ev.RequestDenied) and event == ev.RequestDenied(**denial)
    assert json.loads(msgspec.json.encode(event)) == {"type": "codexrs_request_denied", **denial, "submit_error": None}
    with pytest.warns(DeprecationWarning, match=r"RequestDenied\.call_id is deprecated: use \.key"):
        assert event.call_id == "turn-7"
    with pytest.warns(DeprecationWarning, match=r"RequestTimedOut\.approval_id is deprecated: use \.key"):
        assert ev.RequestTimedOut(**denial).approval_id == "turn-7"
    with pytest.warns(DeprecationWarning, match=r"codexrs\.events\.ApprovalAutoDenied is deprecated: use codexrs\.events\.RequestDenied"):
        assert ev.ApprovalAutoDenied is ev.RequestDenied
    with pytest.warns(DeprecationWarning, match="use codexrs.events.RequestKind"):
        assert ev.RequestKindName is ev.RequestKind
    import codexrs.requests

    assert codexrs.requests.RequestKind is ev.RequestKind
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        ev.Nope  # noqa: B018


def test_typed_events_encode_back_to_codex_names() -> None:
    event = ev.TurnComplete(turn_id="t1", last_agent_message="hi")
    data = json.loads(msgspec.json.encode(event))
    assert data["type"] == "task_complete" and event.type == "task_complete"
    assert data["last_agent_message"] == "hi"
