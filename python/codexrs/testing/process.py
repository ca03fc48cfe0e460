"""The scripted model in a process of its own, and a recorder of the raw event batches.

:class:`ScriptedModelProcess` runs ``python -m codexrs.testing`` and scripts it over HTTP, so
its serving loop never competes with the process under test for the GIL (benchmarks, event
loop tests). :func:`record_batches` keeps every batch codex-core's pump hands to Python, as
the JSON bytes it serialized: golden files, decode benchmarks, cross-language checks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from .model import DEFAULT_MODEL, ScriptedResponse, config_for


class ScriptedModelProcess:
    """:class:`~codexrs.testing.ScriptedModel` served by a child process (a context manager).

    Attributes:
        url: Base URL of its Responses API, e.g. ``http://127.0.0.1:41234/v1``.
        pid: The child's process id.
    """

    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-m", "codexrs.testing"], stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        self.url: str = self._proc.stdout.readline().strip()
        self.pid: int = self._proc.pid

    def _post(self, path: str, payload: object) -> None:
        request = urllib.request.Request(
            f"{self.url.removesuffix('/v1')}{path}", data=json.dumps(payload).encode(), method="POST"
        )
        urllib.request.urlopen(request).read()

    def enqueue(self, *responses: ScriptedResponse) -> None:
        """Appends responses to the shared queue (see :meth:`ScriptedModel.enqueue`)."""
        self._post("/_codexrs/enqueue", [r.to_json() for r in responses])

    def route(self, marker: str, *responses: ScriptedResponse) -> None:
        """Answers requests containing ``marker`` first (see :meth:`ScriptedModel.route`)."""
        self._post("/_codexrs/route", {"marker": marker, "responses": [r.to_json() for r in responses]})

    def config(self, model: str = DEFAULT_MODEL) -> dict[str, Any]:
        """codex config overrides that point codex at this process (as ``ScriptedModel.config``)."""
        return config_for(self.url, model)

    def close(self) -> None:
        """Stops the child and waits for it."""
        self._proc.terminate()
        self._proc.wait()

    def __enter__(self) -> ScriptedModelProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def record_batches() -> Iterator[list[bytes]]:
    """Records, in this process, every event batch read while the block runs.

    Yields a list that fills with each batch as codex-core's pump serialized it (a JSON array
    of ``{"id": <submission id>, "msg": {"type": ..., ...}}``), before codexrs decodes it.
    Every thread of every ``Codex`` / ``AsyncCodex`` is recorded; nothing else changes.
    """
    from .._core import reading as _reading

    batches: list[bytes] = []
    real: Callable[[bytes], Any] = getattr(_reading, "decode_envelopes")

    def recording(batch: bytes) -> Any:
        batches.append(bytes(batch))
        return real(batch)

    setattr(_reading, "decode_envelopes", recording)
    try:
        yield batches
    finally:
        setattr(_reading, "decode_envelopes", real)
