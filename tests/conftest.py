"""Shared helpers; the fixtures themselves come from codexrs's pytest plugin."""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import settings

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
