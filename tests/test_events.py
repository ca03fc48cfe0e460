"""Event decoding: typed classes for known events, nothing lost for the rest."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from codexrs import events as ev


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


def test_known_event_with_a_changed_shape_is_kept_untyped() -> None:
    batch = _batch(("s", {"type": "warning", "message": 5}))
    (_, event), = ev.decode_batch(batch)
    assert event == ev.GenericEvent("warning", {"message": 5})


def test_typed_events_encode_back_to_codex_names() -> None:
    event = ev.TurnComplete(turn_id="t1", last_agent_message="hi")
    data = json.loads(msgspec.json.encode(event))
    assert data["type"] == "task_complete" and event.type == "task_complete"
    assert data["last_agent_message"] == "hi"
