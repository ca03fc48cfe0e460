"""What a failed turn means, read from what codex reported: its error kind and HTTP status
(:func:`error_kind`), whether trying again may help (:data:`RETRYABLE_ERRORS`), whether it is a
rate limit (:func:`is_rate_limited`) and when that limit resets (:func:`reset_time`, which reads
codex's "try again at" text when nothing else says). The exceptions (:mod:`codexrs.errors`) and
the retry loop (:mod:`codexrs._core.retry`) both decide from here."""

from __future__ import annotations

import datetime
import re
import time
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from ._core.result import TurnResult

__all__ = ["RETRYABLE_ERRORS", "error_kind", "is_rate_limited", "reset_time"]

#: codex ``CodexErrorInfo`` kinds after which trying the turn again may succeed.
RETRYABLE_ERRORS = frozenset(
    {
        "server_overloaded",
        "internal_server_error",
        "http_connection_failed",
        "response_stream_connection_failed",
        "response_stream_disconnected",
        "response_too_many_failed_attempts",
    }
)

def error_kind(info: object) -> tuple[str | None, int | None]:
    """Splits a codex ``CodexErrorInfo`` (a name, or the typed struct of its data-carrying
    variants, or that variant as a dict) into (kind, HTTP status code or None)."""
    if isinstance(info, str):
        return info, None
    if isinstance(info, msgspec.Struct):
        info = {
            name: getattr(info, name)
            for name in info.__struct_fields__
            if getattr(info, name) is not msgspec.UNSET
        }
    if isinstance(info, dict) and len(info) == 1:
        ((kind, detail),) = info.items()
        if isinstance(detail, msgspec.Struct):
            status = getattr(detail, "http_status_code", None)
        else:
            status = detail.get("http_status_code") if isinstance(detail, dict) else None
        return kind, status if isinstance(status, int) else None
    return None, None


def is_rate_limited(result: TurnResult) -> bool:
    """Whether a failed turn failed on a rate or usage limit (see :class:`~codexrs.RateLimitError`)."""
    error = result.error
    kind, status = error_kind(error.codex_error_info if error is not None else None)
    return kind == "usage_limit_exceeded" or status == 429


# codex-core's UsageLimitReachedError text: " or try again at 3:05 PM." (the reset is today) or
# " or try again at Nov 23rd, 2026 3:05 PM.", in the process's local time.
_TRY_AGAIN = re.compile(
    r"try again at (?:(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2})(?:st|nd|rd|th), (?P<year>\d{4}) )?"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2}) (?P<ampm>AM|PM)"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def reset_time(result: TurnResult) -> tuple[float | None, str | None]:
    """When a rate-limited turn's limit resets, Unix seconds, and where that came from
    (``"provider"`` and the like: the used-up window of codex's rate-limit snapshot;
    ``"message"``: codex's "try again at" text, to the minute, rounded up); ``(None, None)``
    when nothing says."""
    snapshot = result.rate_limits
    if snapshot is not None:
        spent = [
            float(w.resets_at)
            for w in (snapshot.primary, snapshot.secondary)
            if w is not None and w.resets_at is not None and w.used_percent >= 100
        ]
        if spent:
            return max(spent), snapshot.source
    found = _TRY_AGAIN.search(result.error.message) if result.error is not None else None
    if found is None:
        return None, None
    hour = int(found["hour"]) % 12 + (12 if found["ampm"] == "PM" else 0)
    if found["year"] is not None and found["month"] in _MONTHS:
        day = datetime.date(int(found["year"]), _MONTHS.index(found["month"]) + 1, int(found["day"]))
    else:
        day = datetime.date.fromtimestamp(time.time())
    local = datetime.datetime(day.year, day.month, day.day, hour, int(found["minute"]))
    return local.timestamp() + 60, "message"
