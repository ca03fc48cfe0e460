"""codexrs's generated event and item types against the codex-core this build links.

The schema comes from the linked codex-protocol (``_native.event_schema()``); the classes in
``codexrs._protocol`` are generated from it (``scripts/gen_events.py``). These tests fail,
naming the variant, when either drifts, and show on real turns that every event codex-core
emits decodes to its class and that codex-core's own serde accepts what msgspec encodes back.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import msgspec

import codexrs
from codexrs import _native, _protocol
from codexrs.approvals import ApprovalRequest, Decision
from codexrs.events import GenericEvent
from codexrs.testing import ScriptedModel, apply_patch, exec_command, http_error, record_batches, text

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "rust" / "codexrs" / "schema" / "event_msg.json"


def _linked() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(_native.event_schema())
    return schema


def _at(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        schema = schema[key]
    return schema


def _tags(variants: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {v["properties"]["type"]["enum"][0]: v for v in variants}


def test_checked_in_schema_is_the_linked_core_schema() -> None:
    linked, checked_in = _linked(), json.loads(SCHEMA_FILE.read_text())
    for name, path in (("EventMsg", ()), ("TurnItem", ("definitions", "TurnItem"))):
        now, then = _tags(_at(linked, path)["oneOf"]), _tags(_at(checked_in, path)["oneOf"])
        assert now.keys() == then.keys(), (
            f"{name} variants added: {sorted(now.keys() - then.keys())}, removed: {sorted(then.keys() - now.keys())}"
        )
        changed = sorted(tag for tag in now if now[tag] != then[tag])
        assert not changed, f"{name} variants whose fields changed: {changed}"
    assert linked == checked_in, "a payload type changed: run python3 scripts/gen_events.py and review the diff"


def test_every_event_and_item_variant_has_a_class() -> None:
    linked = _linked()
    for name, variants, classes in (
        ("EventMsg", linked["oneOf"], _protocol.EVENT_CLASSES),
        ("TurnItem", linked["definitions"]["TurnItem"]["oneOf"], _protocol.ITEM_CLASSES),
    ):
        tags = set(_tags(variants))
        assert not tags - classes.keys(), f"{name} variants without a class: {sorted(tags - classes.keys())}"
        assert not classes.keys() - tags, f"classes whose {name} variant is gone: {sorted(classes.keys() - tags)}"
        for tag, cls in classes.items():
            assert cls.__struct_config__.tag == tag


def _empty(value: Any) -> bool:
    return value is None or value in ([], {}, "") or (value == 0 and not isinstance(value, str))


def _same_modulo_defaults(a: Any, b: Any) -> bool:
    """JSON equality where an absent field, ``null`` and serde's zero value are the same."""
    if isinstance(a, dict) and isinstance(b, dict):
        return all(_same_modulo_defaults(a.get(k), b.get(k)) for k in set(a) | set(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_modulo_defaults(x, y) for x, y in zip(a, b))
    return (_empty(a) and _empty(b)) or bool(a == b)


def test_real_events_decode_to_their_classes_and_codex_accepts_them_back(
    scripted_model: ScriptedModel, codex_home: Path, workspace: Path
) -> None:
    def approve(request: ApprovalRequest) -> Decision:
        return "approved"

    scripted_model.enqueue(
        exec_command("touch made-by-command"),
        apply_patch("*** Begin Patch\n*** Add File: typed.txt\n+typed\n*** End Patch\n").delayed(0.2),
        text("done", deltas=["do", "ne"]),
        http_error(400, "scripted failure"),
    )
    with record_batches() as batches:
        with codexrs.Codex(codex_home=codex_home, cwd=workspace, config=scripted_model.config()) as codex:
            thread = codex.thread_start(approval_policy="untrusted", sandbox="workspace-write", on_approval=approve)
            work = thread.turn("work")
            streamed = list(work.stream())
            assert work.result().status == "completed"
            fail = thread.turn("fail")
            streamed += list(fail.stream())
            assert fail.result().status == "failed"
    seen: list[dict[str, Any]] = [envelope["msg"] for batch in batches for envelope in json.loads(batch)]
    # A tool turn, a patch turn and an approval, streamed: every event typed.
    assert not [e for e in streamed if isinstance(e, GenericEvent)]
    assert (workspace / "made-by-command").exists()
    assert (workspace / "typed.txt").read_text() == "typed\n"

    decoder = msgspec.json.Decoder(_protocol.EventMsg)
    kinds = {msg["type"] for msg in seen}
    for wanted in ("exec_command_end", "patch_apply_end", "exec_approval_request", "item_completed", "error"):
        assert wanted in kinds, wanted
    for msg in seen:
        if msg["type"].startswith("codexrs_"):
            continue  # codexrs's own events, not codex's
        event = decoder.decode(json.dumps(msg))
        assert type(event) is _protocol.EVENT_CLASSES[msg["type"]]
        encoded = msgspec.json.encode(event)
        back = json.loads(_native.roundtrip_event(encoded.decode()))
        assert _same_modulo_defaults(back, msg), (msg["type"], msg, back)


def _linked_op_variants() -> set[str]:
    """The variants of ``Op`` in the codex-protocol source cargo resolved for codexrs."""
    root = SCHEMA_FILE.parent.parent.parent.parent
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--offline"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in meta["packages"]}
    codexrs_node = next(n for n in meta["resolve"]["nodes"] if packages[n["id"]]["name"] == "codexrs")
    dep = next(d for d in codexrs_node["deps"] if d["name"] == "codex_protocol")
    source = Path(packages[dep["pkg"]]["manifest_path"]).parent / "src" / "protocol.rs"
    body = source.read_text().split("\npub enum Op {\n", 1)[1].split("\n}\n", 1)[0]
    return set(re.findall(r"^    ([A-Z][A-Za-z0-9]*)\b", body, flags=re.MULTILINE))


def test_every_op_is_submitted_by_codexrs_or_says_why_not() -> None:
    listed = json.loads((SCHEMA_FILE.parent / "ops.json").read_text())["ops"]
    linked = _linked_op_variants()
    assert len(linked) > 20  # the parse found the enum
    assert not linked - listed.keys(), f"Op variants missing from ops.json: {sorted(linked - listed.keys())}"
    assert not listed.keys() - linked, f"ops.json lists Op variants that are gone: {sorted(listed.keys() - linked)}"
    for name, entry in listed.items():
        assert bool(entry.get("codexrs")) != bool(entry.get("why")), f"{name}: say the codexrs call or why there is none"
