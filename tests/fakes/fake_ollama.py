"""The Ollama stand-in of the tests: the product's simulated Ollama (``tray_agent/devnet/sim_ollama.py``, the same
component the devnet demo runs) with test defaults — no real waiting (``time_scale`` 0), one fixed latency profile
for every model unless a test sets one, and pulls of 1 simulated second in ``pull_steps`` lines.

Usage::

    fake = FakeOllama(available=[FakeModel("llama3:8b", size=4_661_224_676)], installed=["llama3:8b"]).start()
    client = ollama.Client(host=fake.url)
    ...
    fake.stop()

or the ``fake_ollama`` / ``fake_ollama_factory`` pytest fixtures from ``tests/plugins/ollama.py``.
"""

from __future__ import annotations

from http.server import ThreadingHTTPServer  # a module global: tests may replace it to bind a fixed address
from typing import Any

from tray_agent.devnet.ollama_models import (
    DEFAULT_MODELS,
    Fault,
    LatencyProfile,
    RecordedRequest,
    count_tokens,
    normalize,
    parse_keep_alive,
)
from tray_agent.devnet.ollama_models import OllamaModel as FakeModel
from tray_agent.devnet.sim_ollama import SimOllama

__all__ = ["DEFAULT_MODELS", "Fault", "FakeModel", "FakeOllama", "LatencyProfile", "RecordedRequest", "count_tokens",
           "normalize", "parse_keep_alive"]


TEST_PROFILE = LatencyProfile()


class FakeOllama(SimOllama):
    """:class:`SimOllama` with instant, size-independent timings (tests set profiles where timing matters)."""

    def __init__(self, *, default_profile: LatencyProfile | None = TEST_PROFILE, time_scale: float = 0.0,
                 pull_bytes_per_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(default_profile=default_profile, time_scale=time_scale, pull_bytes_per_s=pull_bytes_per_s,
                         **kwargs)

    def server_class(self) -> type[ThreadingHTTPServer]:
        return ThreadingHTTPServer  # looked up at call time (see the import above)
