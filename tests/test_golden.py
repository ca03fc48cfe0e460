"""Golden streams: real codex-core event streams, recorded by ``scripts/record_golden.py``.

Every line decodes to its typed class (never a ``GenericEvent``) and encodes back to the same
JSON, up to serde's defaults (an absent field, ``null`` and a zero value are the same); codex's
own serde accepts what msgspec encodes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from codexrs import _native, events
from test_protocol import _same_modulo_defaults

GOLDEN = Path(__file__).resolve().parent / "golden"
FILES = sorted(GOLDEN.glob("*.jsonl"))


def test_every_scenario_was_recorded() -> None:
    names = {f.stem for f in FILES}
    assert {
        "text",
        "reasoning",
        "shell_command",
        "apply_patch",
        "approval",
        "mcp_call",
        "error",
        "interrupted",
    } <= names


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_golden_stream_decodes_typed_and_encodes_back(path: Path) -> None:
    lines = path.read_text().splitlines()
    assert lines
    decoded = events.decode_batch(("[" + ",".join(lines) + "]").encode())
    assert len(decoded) == len(lines)
    for line, (sub_id, event) in zip(lines, decoded):
        original: dict[str, Any] = json.loads(line)
        assert sub_id == original["id"]
        assert not isinstance(event, events.GenericEvent), (event.type, getattr(event, "decode_error", None))
        assert event.type == original["msg"]["type"]
        back = json.loads(msgspec.json.encode(event))
        assert _same_modulo_defaults(back, original["msg"]), original["msg"]["type"]
        if not event.type.startswith("codexrs_"):
            codex = json.loads(_native.roundtrip_event(msgspec.json.encode(event).decode()))
            assert _same_modulo_defaults(codex, _without_codexrs_fields(original["msg"])), original["msg"]["type"]


def _without_codexrs_fields(msg: dict[str, Any]) -> dict[str, Any]:
    """``msg`` without the fields codexrs adds to codex's types (a rate-limit snapshot's
    ``source``, ``observed_at``, ``observed_thread_id``): codex's serde does not carry them."""
    limits = msg.get("rate_limits")
    if not isinstance(limits, dict):
        return msg
    return {**msg, "rate_limits": {k: v for k, v in limits.items() if k not in CODEXRS_FIELDS}}


CODEXRS_FIELDS = {"source", "observed_at", "observed_thread_id"}
