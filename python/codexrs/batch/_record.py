"""A batch's result line: one :class:`Record` per task, one JSON object a line.

Every line has every key, in the order of :class:`Record`'s fields: a value that does not apply
is ``null`` (``check`` when there is no check, ``diff_path`` when the agent changed nothing),
never a missing key. Lines written by an older codexrs, which left some keys out, still decode:
each missing key takes its default here.
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import msgspec

__all__ = ["Outcome", "Record", "RecordCheck", "RecordTimings", "RecordTurn", "RecordUsage", "decode_record", "encode_record"]

#: How a task ended: ``passed`` (every turn completed and the check exited 0, or there is no
#: check), ``failed`` (the check exited non-zero), ``error`` (setup failed, a turn failed, or
#: codexrs raised), ``timeout`` (past ``budget.wall_s``: the running turn was interrupted),
#: ``over_budget`` (``budget.turns`` or ``budget.tokens`` stopped a prompt from being sent).
Outcome = Literal["passed", "failed", "error", "timeout", "over_budget"]


class RecordCheck(msgspec.Struct, kw_only=True):
    """The task's check command, run in its workspace after the agent.

    Attributes:
        exit_code: Its exit status (124: killed after 600 s).
        output_tail: The last 4,000 characters of its stdout and stderr, interleaved.
    """

    exit_code: int
    output_tail: str


class RecordUsage(msgspec.Struct, kw_only=True):
    """Tokens, summed over the task's turns (codex's ``token_count``): the fields of
    :class:`codexrs.Usage`, under the same names (a line written before a field existed reads
    it as 0)."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_output_tokens: int = 0
    total_tokens: int = 0


class RecordTurn(msgspec.Struct, kw_only=True):
    """One turn of the task, in order.

    Attributes:
        id: codex's turn id.
        status: How it ended: ``completed``, ``interrupted``, ``failed``.
        duration_ms: codex's duration of the turn, in milliseconds (``None`` if codex gave none).
        queue_wait_s: Seconds from being sent to starting (waiting for a slot or a rate limit);
            ``None``: not known.
        first_token_s: Seconds from its start to its first output delta (``None``: none came,
            or not known).
        wall_s: Seconds from its start to its end (``None``: not known).
    """

    id: str
    status: str
    duration_ms: int | None = None
    queue_wait_s: float | None = None
    first_token_s: float | None = None
    wall_s: float | None = None


class RecordTimings(msgspec.Struct, kw_only=True):
    """When and how long, in seconds.

    Attributes:
        total_s: The whole task: workspace, setup, turns, check.
        started_at, ended_at: Unix time (``None`` in lines of codexrs before they were added).
        queue_wait_s: Summed over its turns.
        first_token_s: Its first turn's time to first token (``None``: no turn, or no output).
        turns_s: Each turn's ``wall_s``.
    """

    total_s: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    queue_wait_s: float = 0.0
    first_token_s: float | None = None
    turns_s: list[float | None] = msgspec.field(default_factory=list)


class Record(msgspec.Struct, kw_only=True):
    """One result line: what one task did.

    Attributes:
        id: The task's id.
        outcome: See :data:`Outcome`.
        check: Its check, or ``None`` (no check, or the task ended before it).
        final_response: The last turn's final assistant message, or ``None``.
        diff: The agent's changes (``git diff`` against the workspace after setup, new files
            included), its first 20,000 characters; ``""``: no change.
        diff_path: The whole diff, an absolute path in ``<results>.diffs/``; ``None`` when
            ``diff`` is ``""`` (no file is written).
        diff_truncated: Whether ``diff`` is cut short (the whole is at ``diff_path``); ``False``
            when there is no diff.
        rollout_path: codex's rollout file of the task's conversation, or ``None`` (it never
            started).
        workspace: The task's workspace copy, kept with ``keep_workspaces``; ``None`` otherwise.
        error: Why the outcome is ``error`` (or which turn failed), or ``None``.
        versions: ``codexrs`` and ``codex_core`` versions that ran it (``{}``: it never started).
        usage: Its tokens.
        turns: Its turns, in order.
        rate_limits: The rate-limit snapshots its turns reported, each codex's
            ``RateLimitSnapshot`` as a JSON object plus ``at`` (Unix seconds).
        timings: Its :class:`RecordTimings`.
    """

    id: str
    outcome: Outcome = "error"
    check: RecordCheck | None = None
    final_response: str | None = None
    diff: str = ""
    diff_path: str | None = None
    diff_truncated: bool = False
    rollout_path: str | None = None
    workspace: str | None = None
    error: str | None = None
    versions: dict[str, str] = msgspec.field(default_factory=dict)
    usage: RecordUsage = msgspec.field(default_factory=RecordUsage)
    turns: list[RecordTurn] = msgspec.field(default_factory=list)
    rate_limits: list[dict[str, Any]] = msgspec.field(default_factory=list)
    timings: RecordTimings = msgspec.field(default_factory=RecordTimings)

    def __getitem__(self, key: str) -> Any:
        """Deprecated: ``record["key"]``, from when :attr:`Results.records <codexrs.batch.Results>`
        were dicts; the field as JSON builtins (``record.key`` is the typed value).

        Raises:
            KeyError: No such field.
        """
        warnings.warn(f'record["{key}"] is deprecated: batch records are Record structs, use record.{key}', DeprecationWarning, stacklevel=2)
        if key not in self.__struct_fields__:
            raise KeyError(key)
        return msgspec.to_builtins(getattr(self, key))


_decoder = msgspec.json.Decoder(Record)
_encoder = msgspec.json.Encoder()


def decode_record(line: bytes | str) -> Record:
    """One result line, checked against :class:`Record` (keys it lacks take their defaults;
    keys it does not know are ignored).

    Raises:
        msgspec.ValidationError: The line is JSON but not a result line.
        msgspec.DecodeError: The line is not JSON (``ValidationError`` is a subclass).
    """
    return _decoder.decode(line)


def encode_record(record: Record) -> bytes:
    """``record`` as one JSON line, every key present, ending in ``\\n`` (UTF-8)."""
    return _encoder.encode(record) + b"\n"
