"""A stdio MCP server for tests and golden streams, built on the official ``mcp`` SDK.

codex-core starts it as ``mcp_servers.<name>`` (``command = sys.executable``, ``args = [this
file]``); its tools are then the model's ``mcp__<name>`` namespace. ``echo`` is read-only;
``echo_write`` is not, so codex asks for approval (an MCP elicitation) before running it.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("codexrs-test")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def echo(text: str) -> str:
    """Returns ``"echo: " + text``. Read-only, so codex runs it without asking for approval."""
    return f"echo: {text}"


@server.tool()
def echo_write(text: str) -> str:
    """Returns ``"wrote: " + text`` (claims no hints, so codex treats it as a write)."""
    return f"wrote: {text}"


if __name__ == "__main__":
    server.run("stdio")
