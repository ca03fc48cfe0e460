"""Python functions as tools the model can call (codex dynamic tools).

    @codexrs.tool
    def add(a: int, b: int) -> int:
        \"\"\"Adds two integers.\"\"\"
        return a + b

    thread = codex.thread_start(tools=[add])

The tool's name is the function's (or ``name=``), its description the docstring (or
``description=``), its input schema made by msgspec from the signature (``msgspec.json.schema``
of a Struct with one field per parameter, so any type msgspec knows works: ``int``, ``str``,
``list[str]``, ``Literal``, Structs, dataclasses, ``X | None``, defaults). codex offers it to the
model (``DynamicToolSpec``); when the model calls it, codex sends a ``dynamic_tool_call_request``
and codexrs answers it itself: the arguments are validated against the signature, the function
runs (sync or async; on an ``AsyncThread`` a sync one runs in a worker thread), and its return
value goes back as the tool's output (a ``str`` as is, anything else as JSON). An exception, or
arguments that do not validate, go back as a failed output with the error's text, and the turn
goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Generic, overload

import msgspec

from .errors import ConfigError

if TYPE_CHECKING:
    from typing_extensions import ParamSpec, TypeVar

    P = ParamSpec("P", default=...)
    R = TypeVar("R", default=Any)
else:
    from typing import ParamSpec, TypeVar

    P = ParamSpec("P")
    R = TypeVar("R")

__all__ = ["Tool", "tool"]

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")


@dataclass(frozen=True)
class Tool(Generic[P, R]):
    """A Python function offered to the model; made by :func:`tool`. ``Tool[P, R]`` keeps the
    function's parameters and return type: calling the tool is calling the function.

    Attributes:
        name: The name the model calls it by.
        description: What the model is told it does.
        input_schema: The JSON Schema of its arguments (an object, one property per parameter).
        function: The function itself (still callable directly).
    """

    name: str
    description: str
    input_schema: dict[str, Any]
    function: Callable[P, R]
    _arguments: type[msgspec.Struct]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.function(*args, **kwargs)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)

    def spec(self) -> dict[str, Any]:
        """codex's ``DynamicToolSpec`` for this tool."""
        return {"type": "function", "name": self.name, "description": self.description, "inputSchema": self.input_schema}

    def _kwargs(self, arguments: Any) -> dict[str, Any]:
        parsed = msgspec.convert(arguments if arguments is not None else {}, self._arguments)
        return {field: getattr(parsed, field) for field in self._arguments.__struct_fields__}

    def answer(self, arguments: Any) -> dict[str, Any]:
        """Runs the tool on the model's ``arguments``; codex's ``DynamicToolResponse``."""
        function: Callable[..., Any] = self.function  # called with the model's named arguments
        try:
            return _output(function(**self._kwargs(arguments)), True)
        except Exception as exc:
            return _output(f"{type(exc).__name__}: {exc}", False)

    async def answer_async(self, arguments: Any) -> dict[str, Any]:
        """:meth:`answer` for an ``AsyncThread``: awaits an async tool, runs a sync one in a
        worker thread so the event loop never waits on it."""
        function: Callable[..., Any] = self.function  # called with the model's named arguments
        try:
            kwargs = self._kwargs(arguments)
            if self.is_async:
                value = await function(**kwargs)
            else:
                value = await asyncio.to_thread(function, **kwargs)
            return _output(value, True)
        except Exception as exc:
            return _output(f"{type(exc).__name__}: {exc}", False)


def _output(value: Any, success: bool) -> dict[str, Any]:
    text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
    return {"contentItems": [{"type": "inputText", "text": text}], "success": success}


def _make(function: Callable[P, R], name: str | None, description: str | None) -> Tool[P, R]:
    tool_name = name or function.__name__
    if not _NAME.match(tool_name) or tool_name.startswith("mcp"):
        raise ConfigError(f"tool name {tool_name!r} must be 1-128 of [a-zA-Z0-9_-] and not start with 'mcp'")
    hints = typing.get_type_hints(function)
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.POSITIONAL_ONLY):
            raise ConfigError(f"tool {tool_name}: parameter {parameter.name} must be a plain or keyword parameter")
        annotation = hints.get(parameter.name, Any)
        if parameter.default is inspect.Parameter.empty:
            fields.append((parameter.name, annotation))
        else:
            fields.append((parameter.name, annotation, parameter.default))
    arguments = msgspec.defstruct(f"{tool_name}_arguments", fields, forbid_unknown_fields=True)
    schema = msgspec.json.schema(arguments)
    definitions = dict(schema.get("$defs", {}))
    top = definitions.pop(arguments.__name__)
    if definitions:
        top["$defs"] = definitions
    text = description if description is not None else inspect.getdoc(function) or ""
    return Tool(tool_name, text, top, function, arguments)


@overload
def tool(function: Callable[P, R], /) -> Tool[P, R]: ...
@overload
def tool(*, name: str | None = None, description: str | None = None) -> Callable[[Callable[P, R]], Tool[P, R]]: ...
def tool(
    function: Callable[..., Any] | None = None, /, *, name: str | None = None, description: str | None = None
) -> Tool[..., Any] | Callable[[Callable[..., Any]], Tool[..., Any]]:
    """Makes a typed Python function (sync or async) a tool: ``@tool`` or
    ``@tool(name=..., description=...)``.

    Raises:
        ConfigError: A name codex refuses, or ``*args`` / ``**kwargs`` / positional-only
            parameters (the model passes named arguments).
        TypeError: A parameter type msgspec cannot make a schema for.
    """
    if function is not None:
        return _make(function, name, description)
    return lambda f: _make(f, name, description)
