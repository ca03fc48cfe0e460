"""codex-core's logs, and codexrs's own, in Python :mod:`logging`.

codex-core logs through Rust's ``tracing``. codexrs installs one subscriber for the process
(the first time a :class:`~codexrs.Codex` or :class:`~codexrs.AsyncCodex` is made, or when
:func:`install` is called) that hands each record to Python:

* codex-core's records (and every other crate's) go to the logger ``codexrs.core.<crate>``
  (``codexrs.core.codex_core``, ``codexrs.core.codex_otel``, ...); codexrs's own to
  ``codexrs``;
* levels map ERROR, WARN, INFO, DEBUG to Python's, and TRACE to :data:`TRACE` (5);
* each record carries ``thread_id`` and ``turn_id`` (codex's ids, or ``None`` where the record
  comes from outside a thread or turn), ``rust_target`` (the Rust module path) and
  ``rust_fields`` (the record's other fields, a dict of strings); the message ends with those
  fields as ``key=value``;
* filtering happens in Rust, by the effective levels of the ``codexrs.core`` and ``codexrs``
  loggers (re-read twice a second) and, for finer control, by ``RUST_LOG``-style directives
  (:func:`set_filter`, or the ``CODEXRS_LOG`` environment variable): a level that is off costs
  the one comparison Rust's ``tracing`` macros make;
* secrets never reach a record: bearer tokens, OpenAI keys, JWTs, and the values of fields
  named like credentials are replaced with ``[redacted]`` in Rust;
* records travel through a bounded queue (:data:`QUEUE_CAPACITY`) that one Python thread
  drains; no tokio worker waits for the GIL. If the queue is ever full, records are counted,
  and the count is logged as a WARNING on ``codexrs``: never silently lost.

The ``codexrs`` logger has a :class:`logging.NullHandler`, as libraries do: records reach your
handlers through the root logger when you configure logging (``logging.basicConfig()``), and
nothing is printed when you do not.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from typing import Any

from . import _native
from ._core.options import timeout_seconds

__all__ = ["CORE_LOGGER", "LOGGER", "QUEUE_CAPACITY", "TRACE", "flush", "install", "set_filter"]

#: The level of Rust's TRACE records.
TRACE = 5
#: codex-core's records (and other crates') go to children of this logger, one per crate.
CORE_LOGGER = "codexrs.core"
#: codexrs's own records.
LOGGER = "codexrs"
#: Records waiting for Python at most; past it they are counted as dropped.
QUEUE_CAPACITY: int = _native.LOG_QUEUE_CAPACITY
#: How often the bridge re-reads the loggers' levels, in seconds.
LEVEL_REFRESH_S = 0.5

logging.addLevelName(TRACE, "TRACE")
logging.getLogger(LOGGER).addHandler(logging.NullHandler())

_PYTHON_LEVEL = {1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO, 4: logging.DEBUG, 5: TRACE}
_lock = threading.Lock()  # one drainer at a time: records keep their order
_bridge: _Bridge | None = None
#: A forked child: the drain thread (and whatever lock it held) stayed in the parent, and the
#: child cannot use codex-core anyway (the runtime refuses it): no bridge here.
_forked = False


def _after_fork_in_child() -> None:
    global _lock, _forked
    _lock = threading.Lock()
    _forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def _rust_level(logger: str) -> int:
    """The most verbose Rust level the logger takes (0: none)."""
    log = logging.getLogger(logger)
    if log.disabled or logging.root.manager.disable >= logging.CRITICAL:
        return 0
    level = log.getEffectiveLevel()
    for number in (5, 4, 3, 2, 1):
        if level <= _PYTHON_LEVEL[number]:
            return number
    return 0


def _logger_for(target: str) -> str:
    if target.startswith(("_native", "codexrs")):
        return LOGGER
    return f"{CORE_LOGGER}.{target.split('::', 1)[0]}"


def _emit(rows: list[Any], dropped: int) -> None:
    for level, target, message, fields, thread_id, turn_id, file, line, at in rows:
        name = _logger_for(target)
        logger = logging.getLogger(name)
        python_level = _PYTHON_LEVEL.get(level, TRACE)
        if not logger.isEnabledFor(python_level):
            continue
        text = message if not fields else " ".join([message, *(f"{k}={v}" for k, v in fields)])
        record = logger.makeRecord(
            name, python_level, file or target, line or 0, text, (), None,
            extra={"thread_id": thread_id, "turn_id": turn_id, "rust_target": target, "rust_fields": dict(fields)},
        )  # fmt: skip
        record.created, record.msecs = at, (at - int(at)) * 1000
        logger.handle(record)
    if dropped:
        logging.getLogger(LOGGER).warning(
            "%d log records from Rust were dropped: the queue (%d records) was full", dropped, QUEUE_CAPACITY
        )


class _Bridge(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="codexrs-logs", daemon=True)
        self.levels = (-1, -1)
        self.synced_at = 0.0
        self.stopping = threading.Event()

    def sync(self) -> None:
        levels = (_rust_level(CORE_LOGGER), _rust_level(LOGGER))
        if levels != self.levels:
            _native.set_log_levels(*levels)
            self.levels = levels
        self.synced_at = time.monotonic()

    def run(self) -> None:
        while not self.stopping.is_set():
            with _lock:
                rows, dropped = _native.drain_logs(0.1)
                _emit(rows, dropped)
            if time.monotonic() - self.synced_at >= LEVEL_REFRESH_S:
                self.sync()


def _stop() -> None:
    """At interpreter exit (before logging's own shutdown): stops the drain thread while the
    interpreter still runs it, then hands over what is left."""
    if _bridge is not None and not _forked:
        _bridge.stopping.set()
        _bridge.join(1.0)
        flush()


def install() -> bool:
    """Installs the bridge (once per process; codexrs does it when its first engine is made).
    Applies ``CODEXRS_LOG`` if set. Returns False, and installs nothing, when
    ``CODEXRS_LOG_BRIDGE=0`` is set (no Rust record is made at all), or when another Rust
    subscriber came first (then no record reaches Python).

    Raises:
        ValueError: ``CODEXRS_LOG`` holds directives that do not parse.
    """
    global _bridge
    if _forked:
        return False
    with _lock:
        if _bridge is not None:
            return True
        if os.environ.get("CODEXRS_LOG_BRIDGE") == "0":
            return False
        installed: bool = _native.install_log_bridge()
        directives = os.environ.get("CODEXRS_LOG")
        if directives:
            _native.set_log_directives(directives)
        bridge = _Bridge()
        bridge.sync()
        bridge.start()
        _bridge = bridge
        atexit.register(_stop)
        return installed


def set_filter(directives: str | None) -> None:
    """Sets ``RUST_LOG``-style directives applied in Rust after the loggers' levels:
    comma-separated ``target=level`` (a Rust module path prefix: ``codex_core::client=trace``)
    or a bare level for every other target (``"warn,codex_core=debug"``). ``None`` clears them.
    A record must pass both: to see codex-core's DEBUG records, the ``codexrs.core`` logger
    must also be at DEBUG.

    Raises:
        ValueError: The directives do not parse.
    """
    install()
    _native.set_log_directives(directives)


def flush(timeout: float | None = 0.0) -> None:
    """Hands every record queued so far to its logger now, after reading the loggers' levels
    again (so a level just set takes effect for records made after this call). Waits up to
    ``timeout`` seconds for a first record when none is queued (``None``: until one comes)."""
    timeout = timeout_seconds("timeout", timeout)
    if not install():
        return
    with _lock:
        if _bridge is not None:
            _bridge.sync()
        rows, dropped = _native.drain_logs(timeout, QUEUE_CAPACITY)
        _emit(rows, dropped)
        while rows:
            rows, dropped = _native.drain_logs(0.0, QUEUE_CAPACITY)
            _emit(rows, dropped)
