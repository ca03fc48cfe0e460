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
    """Collects the records of a logger (and its children) at WARNING and above."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        """Every message so far, after handing Rust's queued records to their loggers."""
        codexrs.logs.flush()
        return [r.getMessage() for r in self.records]


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
