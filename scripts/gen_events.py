"""Generates codexrs's event and item types from the schema of the codex-core codexrs links.

    python3 scripts/gen_events.py            # from the installed codexrs._native
    python3 scripts/gen_events.py --check    # exit 1 if either output would change

Reads codex-protocol's JSON schema of ``EventMsg`` (schemars 0.8, draft-07; ``TurnItem`` and
every payload type are in its ``definitions``) from ``codexrs._native.event_schema()`` and
writes two files:

* ``rust/codexrs/schema/event_msg.json``: the schema itself, checked in, so a change of the
  linked codex-core shows as a diff;
* ``python/codexrs/_protocol.py``: one msgspec Struct per ``EventMsg`` variant, per ``TurnItem``
  variant and per payload type they reach (re-exported by ``codexrs.events``);
* ``python/codexrs/items.py``: the public module of the ``TurnItem`` classes.

Our own generator, not datamodel-code-generator: serde's shapes need rules a generic JSON
Schema tool gets wrong (see the README, "Types from codex's schema"). The rules:

* an internally tagged enum (``oneOf`` of objects sharing a one-value string property, the
  tag) becomes msgspec tagged Structs (``tag_field`` = that property);
* a ``oneOf`` of one-value string enums becomes a ``Literal``; an externally tagged enum
  (strings for unit variants, ``{"variant": payload}`` objects for the rest) becomes
  ``Literal[...] | Struct`` with one optional field per data variant (``UNSET`` when absent);
* ``anyOf [X, null]`` and ``["T", "null"]`` become ``X | None``; a field the schema does not
  require defaults to its schema ``default`` or ``None``;
* any other union of several object shapes, and ``{}``, become ``Any`` (msgspec cannot tell
  untagged objects apart);
* a newtype over a string (``ThreadId``, ``AbsolutePathBuf``, ...) becomes
  ``Annotated[str, Meta(extra={"codex": name})]`` with the schema's ``minLength``;
* a few fields whose serde form differs from their schema are overridden (``OVERRIDES``,
  ``OPAQUE``, ``AS_STRING``).
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_OUT = ROOT / "rust" / "codexrs" / "schema" / "event_msg.json"
MODULE_OUT = ROOT / "python" / "codexrs" / "_protocol.py"
ITEMS_OUT = ROOT / "python" / "codexrs" / "items.py"

# Event classes keep the names codexrs has always published; the rest are the PascalCase of
# codex's wire name (its Rust variant name).
EVENT_NAMES = {
    "task_started": "TurnStarted",
    "task_complete": "TurnComplete",
    "error": "ErrorEvent",
    "warning": "WarningEvent",
}
# (definition or class, field) -> Python type, where serde's wire form differs from the schema.
OVERRIDES = {
    # serde_with Base64 on the wire; the schema says a plain string.
    ("ExecCommandOutputDelta", "chunk"): "bytes",
}
# Definitions whose hand-written serde form differs from their schema: kept as decoded JSON.
OPAQUE = {"FileSystemPermissions"}
# Enums serde writes as one string (``serde(try_from = "String", into = "String")``: "user",
# "subagent", or a feature's name) while the schema describes the Rust enum (schemars 0.8
# ignores ``schemars(with = "String")`` on an enum): string newtypes, like ThreadId.
AS_STRING = {"ThreadSource"}
# Fields codexrs adds to codex's types (by Python class name): not codex's, marked
# ``Meta(extra={"codexrs": True})`` so tests know codex's serde does not carry them.
CODEXRS_FIELDS = {
    "RateLimitSnapshot": [
        '    #: codexrs: where the snapshot came from: ``"provider"`` (codex-core parsed it from this',
        '    #: thread\'s response), ``"carried"`` (the engine\'s latest real one) or ``"injected:<name>"``.',
        '    source: Annotated[str | None, msgspec.Meta(extra={"codexrs": True})] = None',
        "    #: codexrs: when it was observed (or injected), Unix seconds.",
        '    observed_at: Annotated[float | None, msgspec.Meta(extra={"codexrs": True})] = None',
        "    #: codexrs: the thread whose response carried it (provider and carried snapshots).",
        '    observed_thread_id: Annotated[str | None, msgspec.Meta(extra={"codexrs": True})] = None',
    ],
}
# Hand-written members added to generated classes (by Python class name).
EXTRAS = {
    "Duration": [
        "    @property",
        "    def seconds(self) -> float:",
        '        """The duration in seconds."""',
        "        return self.secs + self.nanos / 1e9",
    ],
    "ExecApprovalRequest": [
        "    @property",
        "    def effective_approval_id(self) -> str:",
        '        """The id codex expects in the answer (``approval_id``, else ``call_id``)."""',
        "        return self.approval_id or self.call_id",
    ],
}
# The serde Default of a non-optional field's type, by the start of its Python type.
ZEROS = [("list[", "[]"), ("dict[", "{}"), ("str", '""'), ("int", "0"), ("float", "0.0"), ("bool", "False")]


def pascal(name: str) -> str:
    parts = re.split(r"[^0-9A-Za-z]+", name)
    out = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return out if out and not out[0].isdigit() else f"_{out}"


def ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


class Generator:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.defs: dict[str, Any] = schema["definitions"]
        self.blocks: list[str] = []  # class and alias definitions, in dependency-free order
        self.names: set[str] = set()
        self.def_names: dict[str, str] = {}  # schema definition -> its Python name

    # -- names -------------------------------------------------------------------------------
    def claim(self, name: str) -> str:
        base, n = name, 2
        while name in self.names:
            name = f"{base}{n}"
            n += 1
        self.names.add(name)
        return name

    # -- types -------------------------------------------------------------------------------
    def type_of(self, node: Any, hint: str) -> str:
        """The Python type of a schema node; ``hint`` names any Struct it needs."""
        if node is True or node == {}:
            return "Any"
        if "$ref" in node:
            return self.definition(ref_name(node["$ref"]))
        if "allOf" in node and len(node["allOf"]) == 1:
            return self.type_of(node["allOf"][0], hint)
        if "anyOf" in node or "oneOf" in node:
            return self.union(node.get("anyOf") or node["oneOf"], hint, node)
        if "enum" in node:
            values = [v for v in node["enum"] if v is not None]
            lit = f"Literal[{', '.join(json.dumps(v) for v in values)}]"
            return f"{lit} | None" if None in node["enum"] else lit
        kind = node.get("type")
        if isinstance(kind, list):
            nullable = "null" in kind
            rest = [k for k in kind if k != "null"]
            inner = self.type_of({**node, "type": rest[0]}, hint) if len(rest) == 1 else "Any"
            return f"{inner} | None" if nullable and inner != "Any" else inner
        if kind == "string":
            return "str"
        if kind == "integer":
            return "int"
        if kind == "number":
            return "float"
        if kind == "boolean":
            return "bool"
        if kind == "null":
            return "None"
        if kind == "array":
            items = node.get("items")
            if isinstance(items, list):
                return "list[Any]"
            return f"list[{self.type_of(items, hint + 'Item') if items else 'Any'}]"
        if kind == "object" or "properties" in node:
            if node.get("properties"):
                return self.struct(hint, node)
            extra = node.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return f"dict[str, {self.type_of(extra, hint + 'Value')}]"
            return "dict[str, Any]"
        return "Any"

    def union(self, members: list[Any], hint: str, node: dict[str, Any]) -> str:
        nullable = any(m.get("type") == "null" for m in members)
        members = [m for m in members if m.get("type") != "null"]
        tag = self.tag_field(members)
        if len(members) == 1 and tag is None:
            inner = self.type_of(members[0], hint)
            return f"{inner} | None" if nullable and inner != "Any" else inner
        if tag is not None:
            inner = self.tagged(hint, members, tag)
        elif all(self.is_string_enum(m) for m in members):
            values = [v for m in members for v in m["enum"]]
            inner = f"Literal[{', '.join(json.dumps(v) for v in values)}]"
        elif all(self.is_string_enum(m) or self.is_external_variant(m) for m in members):
            inner = self.external(hint, members)
        else:
            types = [self.type_of(m, hint + str(i)) for i, m in enumerate(members)]
            scalar = {"str", "int", "float", "bool"}
            objectish = [t for t in types if t not in scalar and not t.startswith("Literal[")]
            lists = [t for t in types if t.startswith("list[")]
            if len(objectish) - len(lists) <= 1 and len(lists) <= 1 and len(set(types)) == len(types):
                inner = " | ".join(types)
            else:
                inner = "Any"
        return f"{inner} | None" if nullable and inner != "Any" else inner

    @staticmethod
    def is_string_enum(m: dict[str, Any]) -> bool:
        return m.get("type") == "string" and "enum" in m

    @staticmethod
    def is_external_variant(m: dict[str, Any]) -> bool:
        props = m.get("properties") or {}
        return m.get("type") == "object" and len(props) == 1 and m.get("required") == list(props)

    @staticmethod
    def tag_field(members: list[dict[str, Any]]) -> str | None:
        """The property every member has as a required one-value string (serde's tag)."""
        candidates: set[str] | None = None
        for m in members:
            props = m.get("properties") or {}
            tags = {
                k
                for k, p in props.items()
                if isinstance(p, dict) and p.get("type") == "string" and len(p.get("enum", [])) == 1
                and k in m.get("required", [])
            }
            candidates = tags if candidates is None else candidates & tags
        if not candidates:
            return None
        return "type" if "type" in candidates else sorted(candidates)[0]

    # -- definitions -------------------------------------------------------------------------
    def definition(self, name: str) -> str:
        if name in OPAQUE:
            return "Any"
        if name in self.def_names:
            return self.def_names[name]
        py = pascal(name)
        py = self.claim(py if py not in self.names else py + "Payload")
        self.def_names[name] = py
        node = self.defs[name]
        if node.get("properties") and not ("oneOf" in node or "anyOf" in node):
            self.struct(py, node, claimed=True, source=name)
        elif (node.get("type") == "string" and "enum" not in node) or name in AS_STRING:
            # A newtype over a string (ThreadId, AbsolutePathBuf, ...): its codex name rides
            # along (tests build valid values from it), with the schema's length bound.
            bound = f"min_length={node['minLength']}, " if "minLength" in node else ""
            self.blocks.append(f'{py} = Annotated[str, msgspec.Meta({bound}extra={{"codex": "{name}"}})]\n')
        else:
            target = self.type_of(node, py)
            if target != py:
                self.blocks.append(f"{py} = {target}\n")
        return py

    def tagged(self, hint: str, members: list[dict[str, Any]], tag: str) -> str:
        names = []
        for m in members:
            value = m["properties"][tag]["enum"][0]
            names.append(self.struct(hint + pascal(str(value)), m, tag=(tag, value)))
        return " | ".join(names)

    def external(self, hint: str, members: list[dict[str, Any]]) -> str:
        units = [v for m in members if self.is_string_enum(m) for v in m["enum"]]
        data = [m for m in members if self.is_external_variant(m)]
        name = self.claim(hint + "Data")
        lines = [
            f"class {name}(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):",
            f'    """A data-carrying variant of ``{hint}``: exactly one field is set."""',
            "",
        ]
        for m in data:
            (key, sub), = m["properties"].items()
            lines.append(self.field(key, f"{self.type_of(sub, name + pascal(key))} | UnsetType", "UNSET"))
        self.blocks.append("\n".join(lines) + "\n")
        return f"Literal[{', '.join(json.dumps(u) for u in units)}] | {name}" if units else name

    def field(self, key: str, typ: str, default: str | None) -> str:
        ident = key if key.isidentifier() and not keyword.iskeyword(key) else re.sub(r"\W", "_", key) + "_"
        rename = f'name="{key}"' if ident != key else ""
        if default is None:
            return f"    {ident}: {typ}" + (f" = msgspec.field({rename})" if rename else "")
        if rename:
            return f"    {ident}: {typ} = msgspec.field(default={default}, {rename})"
        return f"    {ident}: {typ} = {default}"

    def struct(
        self,
        hint: str,
        node: dict[str, Any],
        *,
        tag: tuple[str, Any] | None = None,
        claimed: bool = False,
        source: str | None = None,
        base: str = "msgspec.Struct",
        name: str | None = None,
    ) -> str:
        name = name or (hint if claimed else self.claim(hint))
        required = set(node.get("required", []))
        props = dict(node.get("properties") or {})
        if tag is not None:
            props.pop(tag[0], None)
        nested_tag = None
        if "oneOf" in node:
            # A tagged object that nests a second tagged enum (TurnItem::Extension, by "kind"):
            # one Struct with the inner tag as a Literal of every value, the fields every inner
            # variant requires as required, and the rest optional (absent: None, not encoded).
            members = [m for m in node["oneOf"] if m.get("properties")]
            nested_tag = self.tag_field(members)
            for m in members:
                for k, p in (m.get("properties") or {}).items():
                    props.setdefault(k, p)
            required |= set.intersection(*(set(m.get("required", [])) for m in members))
            if nested_tag is not None:
                values = [m["properties"][nested_tag]["enum"][0] for m in members]
                props[nested_tag] = {"type": "string", "enum": values}
        options = "kw_only=True, frozen=True" + (", omit_defaults=True" if nested_tag else "")
        if tag is not None:
            options = f'tag_field="{tag[0]}", tag={json.dumps(tag[1])}, ' + options
        doc = (node.get("description") or "").strip().replace('"""', "'''")
        origin = f"codex ``{source}``" if source else f"codex wire ``{tag[1]}``" if tag else "codex payload"
        lines = [f"class {name}({base}, {options}):", f'    """{origin}.' + (f" {doc}" if doc else "")]
        lines[-1] = lines[-1].replace("\n", "\n    ")
        if nested_tag is not None:
            lines.append("")
            lines.append(f"    Fields by ``{nested_tag}`` (the others are None):")
            lines.append("")
            for m in members:
                keys = sorted(k for k in m["properties"] if k != nested_tag)
                lines.append(f"    * ``{m['properties'][nested_tag]['enum'][0]}``: " + ", ".join(f"``{k}``" for k in keys))
        lines.append('    """')
        lines.append("")
        body = []
        owner = source or name
        for key in sorted(props, key=lambda k: (k not in required, k)):
            prop = props[key]
            typ = OVERRIDES.get((owner, key)) or OVERRIDES.get((name, key)) or self.type_of(prop, name + pascal(key))
            if key in required:
                body.append(self.field(key, typ, None))
            elif nested_tag is not None:
                body.append(self.field(key, typ if typ.endswith("| None") or typ == "Any" else f"{typ} | None", "None"))
            else:
                default = prop.get("default") if isinstance(prop, dict) else None
                if isinstance(default, (bool, int, float, str)) and not isinstance(default, dict):
                    body.append(self.field(key, typ, json.dumps(default) if not isinstance(default, bool) else str(default)))
                elif default == [] and typ.startswith("list["):
                    body.append(self.field(key, typ, "[]"))
                elif typ == "Any" or typ.endswith("| None"):
                    body.append(self.field(key, typ, "None"))
                else:  # serde's Default of a field the schema does not require and never null
                    zero = next((z for prefix, z in ZEROS if typ.startswith(prefix)), None)
                    body.append(self.field(key, typ if zero else f"{typ} | None", zero or "None"))
        lines.extend(body or ["    pass"])
        if name in CODEXRS_FIELDS:
            lines.extend(CODEXRS_FIELDS[name])
        if name in EXTRAS:
            lines.extend(["", *EXTRAS[name]])
        self.blocks.append("\n".join(lines) + "\n")
        return name

    # -- the two enums -----------------------------------------------------------------------
    def variants(self, node: dict[str, Any], base: str, naming: Callable[[str], str]) -> list[tuple[str, str]]:
        out = [(m["properties"]["type"]["enum"][0], m) for m in node["oneOf"]]
        for wire, m in out:
            self.struct(naming(wire), m, tag=("type", wire), claimed=True, base=base, name=naming(wire))
        return [(wire, naming(wire)) for wire, _ in out]


HEADER = '''"""codex-core's events and turn items, generated from the linked codex-protocol's schema.

GENERATED by scripts/gen_events.py from rust/codexrs/schema/event_msg.json: do not edit.
Public names are re-exported by :mod:`codexrs.events` and :mod:`codexrs.items`.
"""

# ruff: noqa
# mypy: disable-error-code="misc"

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import UNSET, UnsetType


class CodexEvent(msgspec.Struct, kw_only=True, frozen=True, tag_field="type"):
    """Base of every codex-core event class; ``type`` is the wire name (``EventMsg``'s serde tag)."""

    @property
    def type(self) -> str:
        return str(self.__struct_config__.tag)


class CodexItem(msgspec.Struct, kw_only=True, frozen=True, tag_field="type"):
    """Base of every codex-core turn item class; ``type`` is the wire name (``TurnItem``'s serde tag)."""

    @property
    def type(self) -> str:
        return str(self.__struct_config__.tag)

'''


ITEMS_HEADER = '''"""Typed codex-core turn items: one class per ``TurnItem`` variant of the linked codex-core.

``ItemStarted.item``, ``ItemCompleted.item`` and ``TurnResult.items`` hold these. ``item.type``
is codex's wire name (``"CommandExecution"``, ``"FileChange"``, ``"AgentMessage"``, ...); the
class is that name with ``Item`` appended. The payload types they use are in
:mod:`codexrs.events`.

GENERATED by scripts/gen_events.py: do not edit.
"""

from ._protocol import (
'''


def items_module(schema: dict[str, Any]) -> str:
    names = sorted(pascal(m["properties"]["type"]["enum"][0]) + "Item" for m in schema["definitions"]["TurnItem"]["oneOf"])
    names = ["CodexItem", "ITEM_CLASSES", "TurnItem", *names]
    return (
        ITEMS_HEADER
        + "".join(f"    {n},\n" for n in names)
        + ")\n\n__all__ = [\n"
        + "".join(f'    "{n}",\n' for n in names)
        + "]\n"
    )


def generate(schema: dict[str, Any]) -> str:
    gen = Generator(schema)
    gen.names.update({"CodexEvent", "CodexItem", "EventMsg", "TurnItem", "EVENT_CLASSES", "ITEM_CLASSES"})

    def item_name(wire: str) -> str:
        return pascal(wire) + "Item"

    def event_name(wire: str) -> str:
        return EVENT_NAMES.get(wire) or pascal(wire)

    gen.def_names.update({"TurnItem": "TurnItem", "EventMsg": "EventMsg"})
    gen.names.update(item_name(m["properties"]["type"]["enum"][0]) for m in gen.defs["TurnItem"]["oneOf"])
    gen.names.update(event_name(m["properties"]["type"]["enum"][0]) for m in schema["oneOf"])
    items = gen.variants(gen.defs["TurnItem"], "CodexItem", item_name)
    events = gen.variants(schema, "CodexEvent", event_name)
    public = sorted(n for n in gen.names if not n.startswith("_"))
    tail = [
        "__all__ = [",
        *[f'    "{n}",' for n in public],
        "]",
        "",
        f"TurnItem = Union[{', '.join(n for _, n in items)}]",
        '"""Every codex ``TurnItem`` variant."""',
        "",
        f"EventMsg = Union[{', '.join(n for _, n in events)}]",
        '"""Every codex ``EventMsg`` variant."""',
        "",
        "ITEM_CLASSES: dict[str, type[CodexItem]] = {",
        *[f'    "{w}": {n},' for w, n in items],
        "}",
        "EVENT_CLASSES: dict[str, type[CodexEvent]] = {",
        *[f'    "{w}": {n},' for w, n in events],
        "}",
    ]
    return HEADER + "\n\n".join(gen.blocks) + "\n\n" + "\n".join(tail) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if an output would change")
    parser.add_argument("--schema", type=Path, help="read this schema file instead of codexrs._native")
    args = parser.parse_args()
    if args.schema:
        text = args.schema.read_text()
    else:
        from codexrs import _native

        text = _native.event_schema() + "\n"
    schema = json.loads(text)
    outputs = ((SCHEMA_OUT, text), (MODULE_OUT, generate(schema)), (ITEMS_OUT, items_module(schema)))
    stale = [p for p, body in outputs if not p.exists() or p.read_text() != body]
    if args.check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is stale: run python3 scripts/gen_events.py", file=sys.stderr)
        return 1 if stale else 0
    SCHEMA_OUT.parent.mkdir(parents=True, exist_ok=True)
    for path, body in outputs:
        path.write_text(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
