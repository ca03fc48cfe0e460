"""Shared helpers; the fixtures themselves come from codexrs's pytest plugin."""

from __future__ import annotations

import logging
import random
import string
from typing import Iterator

import pytest
from hypothesis import settings

import codexrs

settings.register_profile("ci", max_examples=50, deadline=None)
settings.load_profile("ci")


def make_deltas(n: int, seed: int = 7) -> list[str]:
    """``n`` deltas of varied text: ASCII, spaces, newlines, non-ASCII, JSON-hostile chars."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + " \n\t\"\\{}[],:/é漢字🙂"
    return [("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))) for _ in range(n)]


@pytest.fixture
def deltas_1000() -> list[str]:
    return make_deltas(1000)


class Records(logging.Handler):
    """Collects the records of a logger (and its children) at ``level`` and above."""

    def __init__(self, level: int = logging.WARNING) -> None:
        super().__init__(level=level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        """Every message so far, after handing Rust's queued records to their loggers."""
        codexrs.logs.flush()
        return [r.getMessage() for r in self.records]

    def texts(self) -> list[str]:
        """Every text a record carries (message, thread and turn ids, Rust field names and
        values), after handing Rust's queued records to their loggers: where a secret would show."""
        codexrs.logs.flush()
        out: list[str] = []
        for record in self.records:
            fields = getattr(record, "rust_fields", {})
            out += [record.getMessage(), str(getattr(record, "thread_id", "")), str(getattr(record, "turn_id", ""))]
            out += [*map(str, fields.keys()), *map(str, fields.values())]
        return out


@pytest.fixture
def debug_records() -> Iterator[Records]:
    """Every record of the ``codexrs`` loggers (codex-core's included) at DEBUG and above;
    the level and the Rust filter are restored after."""
    codexrs.logs.flush()  # what earlier tests left goes to no one here
    handler, logger = Records(level=1), logging.getLogger("codexrs")
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    codexrs.logs.flush()  # Rust now filters at DEBUG
    handler.records.clear()
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
        codexrs.logs.set_filter(None)
        codexrs.logs.flush()


@pytest.fixture
def core_records() -> Iterator[Records]:
    """WARNING and ERROR records of codex-core (the ``codexrs.core`` loggers, panics included:
    ``codexrs.core.panic``)."""
    codexrs.logs.flush()  # what earlier tests left goes to no one here
    handler, logger = Records(), logging.getLogger("codexrs.core")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
