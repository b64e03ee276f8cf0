"""pytest fixtures for the fake Ollama server (see tests/fakes/fake_ollama.py).

Use in a conftest with ``from tests.plugins.ollama import fake_ollama, fake_ollama_factory  # noqa: F401``
or register the module once in the root conftest: ``pytest_plugins = ["tests.plugins.ollama"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.fake_ollama import FakeOllama


@pytest.fixture
def fake_ollama_factory() -> Iterator[Callable[..., FakeOllama]]:
    """Build and start fake servers with custom settings (``FakeOllama`` kwargs); all stopped afterwards."""
    started: list[FakeOllama] = []

    def make(**kwargs: Any) -> FakeOllama:
        fake = FakeOllama(**kwargs).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()


@pytest.fixture
def fake_ollama(fake_ollama_factory: Callable[..., FakeOllama]) -> FakeOllama:
    """A running fake with the networks.md §6 models available to pull and nothing installed."""
    return fake_ollama_factory()
