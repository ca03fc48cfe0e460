"""A thread's MCP servers as codex-core sees them: startup state and tools."""

from __future__ import annotations

from typing import Any

import msgspec

from ..events import McpStartupStatus

__all__ = ["McpServer", "McpTool"]


class McpTool(msgspec.Struct, kw_only=True, frozen=True):
    """One tool of an MCP server (codex ``ToolInfo``).

    Attributes:
        server: The server's name in ``mcp_servers``.
        name: The tool's name on the server.
        callable_name: The name the model calls it by, in ``namespace``.
        namespace: The model-visible namespace (``mcp__<server>``).
        description: What the server says it does.
        input_schema: Its arguments' JSON Schema.
        annotations: The server's hints (``readOnlyHint``, ...), if any.
    """

    server: str
    name: str
    callable_name: str
    namespace: str
    description: str | None = None
    input_schema: Any = None
    annotations: Any = None


class McpServer(msgspec.Struct, kw_only=True, frozen=True):
    """One configured MCP server of a thread.

    Attributes:
        name: Its name in ``mcp_servers``.
        status: Its last startup state codex reported on this thread (``mcp_startup_update``:
            starting, ready, failed with its error, cancelled), or ``None`` before any was
            read.
        tools: Its tools, as codex-core's connection manager lists them.
    """

    name: str
    status: McpStartupStatus | None
    tools: list[McpTool]


def servers(tool_infos: Any, statuses: dict[str, McpStartupStatus]) -> list[McpServer]:
    """Groups codex ``ToolInfo``s by server, with the startup states read so far."""
    by_server: dict[str, list[McpTool]] = {name: [] for name in statuses}
    for info in tool_infos:
        tool = info.get("tool") or {}
        by_server.setdefault(info["server_name"], []).append(
            McpTool(
                server=info["server_name"],
                name=tool.get("name", ""),
                callable_name=info.get("tool_name", ""),
                namespace=info.get("tool_namespace", ""),
                description=tool.get("description"),
                input_schema=tool.get("inputSchema", tool.get("input_schema")),
                annotations=tool.get("annotations"),
            )
        )
    return [McpServer(name=name, status=statuses.get(name), tools=tools) for name, tools in sorted(by_server.items())]
