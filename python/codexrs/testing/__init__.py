"""codexrs's testing kit: a scripted model speaking the OpenAI Responses API on 127.0.0.1.

Tests (yours and ours) run the real codex-core against it; nothing in codex-core is mocked.

    from codexrs.testing import ScriptedModel, text, exec_command

    with ScriptedModel() as model:
        model.enqueue(exec_command("echo hi"), text("done"))
        with codexrs.Codex(codex_home=tmp, config=model.config()) as codex:
            ...

:class:`ScriptedIssuer` is an OAuth issuer speaking what codex's login crate calls (the browser
flow's authorize page and PKCE code exchange, the device code and its polling), for
``Codex.login_chatgpt(issuer=issuer.url)`` and ``login_chatgpt_device_code``.

Fault steps script a model that fails, misbehaves or goes silent, the same way:
``http_error``, ``usage_limit``, ``failed``, ``garbage``, ``cut`` (optionally with a TCP reset),
``stall`` (a silent stream), ``orphan_delta`` (a delta for an item never added), ``not_json``
(one SSE line that is not JSON) and ``garbage_rate_limits`` (unusable rate-limit headers).

The pytest plugin (``codexrs.testing.pytest_plugin``, registered as a ``pytest11`` entry point)
provides the ``scripted_model`` and ``codex`` fixtures.
"""

from ._faults import (
    GARBAGE_RATE_LIMIT_HEADERS,
    cut,
    failed,
    garbage,
    garbage_rate_limits,
    http_error,
    not_json,
    orphan_delta,
    stall,
    usage_limit,
)
from .issuer import DeviceAnswer, IssuedTokens, ScriptedIssuer, Visit, unsigned_jwt
from .model import (
    SENT_AT,
    RecordedRequest,
    ScriptedModel,
    ScriptedResponse,
    apply_patch,
    exec_command,
    function_call,
    mcp_call,
    reasoning,
    text,
)
from .process import ScriptedModelProcess, record_batches

__all__ = [
    "DeviceAnswer",
    "GARBAGE_RATE_LIMIT_HEADERS",
    "IssuedTokens",
    "SENT_AT",
    "RecordedRequest",
    "ScriptedIssuer",
    "ScriptedModel",
    "ScriptedModelProcess",
    "ScriptedResponse",
    "Visit",
    "apply_patch",
    "cut",
    "exec_command",
    "failed",
    "function_call",
    "garbage",
    "garbage_rate_limits",
    "http_error",
    "mcp_call",
    "not_json",
    "orphan_delta",
    "reasoning",
    "record_batches",
    "stall",
    "text",
    "unsigned_jwt",
    "usage_limit",
]
