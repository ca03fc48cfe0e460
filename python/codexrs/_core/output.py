"""Structured output: a turn's final message constrained by a JSON Schema, decoded and checked.

``output_schema`` (on ``Thread.run`` / ``Thread.turn``) is a JSON Schema ``dict``, or a type the
schema is made from: a msgspec Struct, a dataclass, a TypedDict (``msgspec.json.schema``) or a
pydantic model (``model_json_schema``). codex sends the schema to the model
(``final_output_json_schema``); :attr:`TurnResult.output` is the final message decoded: an
instance of the type, or the parsed JSON for a ``dict`` schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

import msgspec

from ..errors import OutputValidationError

__all__ = ["OutputSpec", "output_spec"]


@dataclass(frozen=True)
class OutputSpec:
    """The schema sent to codex and the decoder that checks the final message against it."""

    schema: dict[str, Any]
    decode: Callable[[str], Any]

    def schema_json(self) -> str:
        return json.dumps(self.schema)


def _pydantic(kind: type) -> OutputSpec | None:
    schema = getattr(kind, "model_json_schema", None)
    validate = getattr(kind, "model_validate_json", None)
    if not (callable(schema) and callable(validate)):
        return None
    return OutputSpec(schema(), validate)


def output_spec(output_schema: object) -> OutputSpec | None:
    """The :class:`OutputSpec` for an ``output_schema`` argument (``None`` for none).

    Raises:
        TypeError: Neither a dict nor a type a schema can be made from.
    """
    if output_schema is None:
        return None
    if isinstance(output_schema, dict):
        return OutputSpec(output_schema, json.loads)
    if isinstance(output_schema, type):
        spec = _pydantic(output_schema)
        if spec is not None:
            return spec
        kind = output_schema
        try:
            schema = msgspec.json.schema(kind)
        except TypeError as exc:
            raise TypeError(f"no JSON Schema can be made from {kind.__name__}: {exc}") from exc
        decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(kind)
        return OutputSpec(schema, decoder.decode)
    raise TypeError(
        "output_schema must be a JSON Schema dict, or a msgspec Struct, dataclass, TypedDict or pydantic "
        f"model type, not {type(output_schema).__name__}"
    )


def decode_output(spec: OutputSpec, text: str | None) -> Any:
    """The final message decoded by ``spec``.

    Raises:
        OutputValidationError: No final message, or one that is not valid for the schema
            (``.raw`` holds the text).
    """
    if text is None:
        raise OutputValidationError("the turn produced no final message to decode", raw=None)
    try:
        return spec.decode(text)
    except Exception as exc:  # msgspec, json and pydantic each raise their own error type
        raise OutputValidationError(f"the final message does not match output_schema: {exc}", raw=text) from exc
