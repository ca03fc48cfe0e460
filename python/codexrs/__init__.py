"""codexrs: OpenAI's Codex agent engine (codex-core) inside your Python process.

No ``codex`` subprocess and no JSON over a pipe: codex-core runs in this process through a
PyO3 extension, and its events reach you typed, in batches, with back-pressure and nothing
dropped.

    import codexrs

    with codexrs.Codex(config={"model": "gpt-5.5"}) as codex:
        thread = codex.thread_start(approval_policy="never", sandbox="workspace-write")
        result = thread.run("Add a README")
        print(result.final_response, result.usage)
"""

from __future__ import annotations

import atexit

from . import _native, events, hooks, inputs, items, logs, manager, requests, tools
from ._core.account import Account, CodexCoreVersion, Model, codex_core_version
from ._core.engine import AsyncCodex, Codex, default_codex_home
from ._core.login import AsyncChatgptLogin, AsyncDeviceCodeLogin, ChatgptLogin, DeviceCodeLogin
from ._core.mcp import McpServer, McpTool
from .manager import (
    AsyncManager,
    ManagedThread,
    Manager,
    ManagerEvent,
    ManagerEventStream,
    ManagerUsage,
    NameTakenError,
    SyncManagedThread,
    SyncThreadHandle,
    TurnTimings,
)
from .inputs import (
    AudioInput,
    ImageInput,
    InputItem,
    LocalAudioInput,
    LocalImageInput,
    MentionInput,
    SkillInput,
    TextInput,
)
from ._core.store import StoredThread, StoredTurn, ThreadHistory, ThreadPage
from ._core.stream import AsyncTurnHandle, AsyncTurnStream, TurnHandle, TurnStream
from ._core.thread import AsyncThread, Thread
from ._core.result import Input, TurnResult, TurnStatus, Usage
from ._core.options import (
    ApprovalPolicy,
    JsonSchema,
    ReasoningEffort,
    ReasoningSummary,
    ReviewTarget,
    SandboxMode,
    ThreadOptions,
    TurnSettings,
)
from .approvals import ApprovalHandler, ApprovalRequest, Decision
from .requests import DEFER, Answer, Request, RequestHandler, RequestKind
from .tools import Tool, tool
from .hooks import Hook, HookEvent
from .errors import (
    CodexError,
    ConfigError,
    CredentialsError,
    EngineClosedError,
    InternalError,
    LoginError,
    ModelError,
    NothingSentError,
    OutputValidationError,
    RateLimitError,
    RolloutError,
    ThreadNotFoundError,
    TurnFailedError,
    TurnInProgressError,
    TurnNotSteerableError,
)

__all__ = [
    "Account",
    "Answer",
    "ApprovalHandler",
    "ApprovalPolicy",
    "ApprovalRequest",
    "AsyncChatgptLogin",
    "AsyncCodex",
    "AsyncDeviceCodeLogin",
    "AsyncManager",
    "AudioInput",
    "AsyncThread",
    "AsyncTurnHandle",
    "AsyncTurnStream",
    "CODEX_CORE_PACKAGE",
    "ChatgptLogin",
    "Codex",
    "CodexCoreVersion",
    "CodexError",
    "ConfigError",
    "CredentialsError",
    "DEFER",
    "Decision",
    "DeviceCodeLogin",
    "EngineClosedError",
    "Hook",
    "HookEvent",
    "ImageInput",
    "Input",
    "InputItem",
    "JsonSchema",
    "LocalAudioInput",
    "LocalImageInput",
    "LoginError",
    "ManagedThread",
    "Manager",
    "ManagerEvent",
    "ManagerEventStream",
    "ManagerUsage",
    "McpServer",
    "McpTool",
    "MentionInput",
    "SandboxMode",
    "InternalError",
    "Model",
    "NameTakenError",
    "ModelError",
    "NothingSentError",
    "OutputValidationError",
    "RateLimitError",
    "ReasoningEffort",
    "ReasoningSummary",
    "Request",
    "RequestHandler",
    "RequestKind",
    "ReviewTarget",
    "RolloutError",
    "SkillInput",
    "StoredThread",
    "StoredTurn",
    "SyncManagedThread",
    "SyncThreadHandle",
    "TextInput",
    "Thread",
    "ThreadHistory",
    "ThreadNotFoundError",
    "ThreadOptions",
    "ThreadPage",
    "Tool",
    "TurnFailedError",
    "TurnHandle",
    "TurnInProgressError",
    "TurnNotSteerableError",
    "TurnResult",
    "TurnSettings",
    "TurnTimings",
    "TurnStatus",
    "TurnStream",
    "Usage",
    "__version__",
    "codex_core_version",
    "default_codex_home",
    "events",
    "hooks",
    "inputs",
    "items",
    "logs",
    "manager",
    "requests",
    "tool",
    "tools",
]

#: The crates.io package codex-core was linked from (the typeduck republish, pinned).
CODEX_CORE_PACKAGE: str = _native.CODEX_CORE_PACKAGE

#: codexrs's version (the one its native extension was built as).
__version__: str = _native.VERSION

# Stop codex-core's tasks (bounded) before the interpreter tears down.
atexit.register(_native.shutdown_runtime, 2.0)
