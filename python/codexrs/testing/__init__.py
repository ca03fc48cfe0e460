"""codexrs's testing kit: a scripted model speaking the OpenAI Responses API on 127.0.0.1.

Tests (yours and ours) run the real codex-core against it; nothing in codex-core is mocked.

    from codexrs.testing import ScriptedModel, text, exec_command

    with ScriptedModel() as model:
        model.enqueue(exec_command("echo hi"), text("done"))
        with codexrs.Codex(codex_home=tmp, config=model.config()) as codex:
            ...

The pytest plugin (``codexrs.testing.pytest_plugin``, registered as a ``pytest11`` entry point)
provides the ``scripted_model`` and ``codex`` fixtures.
"""

from .model import (
    SENT_AT,
    RecordedRequest,
    ScriptedModel,
    ScriptedResponse,
    apply_patch,
    cut,
    exec_command,
    failed,
    function_call,
    garbage,
    http_error,
    mcp_call,
    reasoning,
    text,
    usage_limit,
)
from .process import ScriptedModelProcess, record_batches

__all__ = [
    "SENT_AT",
    "RecordedRequest",
    "ScriptedModel",
    "ScriptedModelProcess",
    "ScriptedResponse",
    "apply_patch",
    "cut",
    "exec_command",
    "failed",
    "function_call",
    "garbage",
    "http_error",
    "mcp_call",
    "reasoning",
    "record_batches",
    "text",
    "usage_limit",
]
