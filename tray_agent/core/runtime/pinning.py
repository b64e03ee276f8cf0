"""Keep the served models pinned in Ollama, and unload the ones no longer served (reference-app lesson 34).

``step(models, run_key)`` runs on each healthy supervisor tick: it checks Ollama is up, and in a background
thread unloads models dropped from the served set (``keep_alive 0``) and warms the served ones with
``keep_alive -1`` — after every worker (re)start (new ``run_key``) and whenever one is no longer resident. The
served set is persisted, so a model change made before an agent restart is still unloaded after it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Any

from tray_agent.common.atomic import atomic_write

log = logging.getLogger(__name__)


class ModelPinner:
    """Pins through an ``OllamaManager``-like object (``ensure_running``, ``loaded``, ``pin``, ``unload``)."""

    def __init__(self, ollama: Any, state_path: Path | None = None):
        self.ollama = ollama
        self.state_path = Path(state_path) if state_path else None
        self.up = True
        self.unloaded: list[str] = []  # models unloaded because they were dropped (diagnostics, tests)
        self._served: tuple[str, ...] = self._load()
        self._run: Hashable | None = None
        self._thread: threading.Thread | None = None
        # models a warm-up could not make resident in this run (e.g. an embedding model: no generate); not retried
        # on every tick (that was a hot loop of failing warm-ups), only after a restart or a model change
        self._unpinnable: set[str] = set()

    def _load(self) -> tuple[str, ...]:
        if self.state_path is None:
            return ()
        try:
            return tuple(json.loads(self.state_path.read_text()).get("served", ()))
        except (OSError, ValueError, AttributeError):
            return ()

    def _save(self, models: tuple[str, ...]) -> None:
        if self.state_path is not None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.state_path, json.dumps({"served": list(models)}))

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def step(self, models: Iterable[str], run_key: Hashable) -> bool:
        """Check Ollama and start unloading/pinning when needed; returns whether Ollama is up."""
        try:
            self.up = bool(self.ollama.ensure_running())
        except Exception as e:
            log.warning("ollama check failed: %s", e)
            self.up = False
        if not self.up or self.busy:
            return self.up
        served = tuple(models)
        dropped = [m for m in self._served if m not in served]
        needs = bool(dropped) or run_key != self._run or served != self._served
        if needs:
            self._unpinnable = set()
        else:
            try:
                needs = not set(served) - self._unpinnable <= self.ollama.loaded()
            except Exception:
                needs = False
        if needs:
            self._run = run_key
            self._thread = threading.Thread(target=self._apply, args=(served, dropped), name="ollama-pin",
                                            daemon=True)
            self._thread.start()
        return self.up

    def wait(self, timeout: float = 30.0) -> None:
        """Join a running unload/pin (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _apply(self, served: tuple[str, ...], dropped: list[str]) -> None:
        if dropped:
            log.info("unloading models no longer served: %s", ", ".join(dropped))
            try:
                self.ollama.unload(dropped)
                self.unloaded.extend(dropped)
            except Exception as e:
                log.warning("unloading %s failed: %s", dropped, e)
                return  # keep the old served set: retried next tick
        self._served = served
        self._save(served)
        try:
            missing = self.ollama.pin(list(served))
            self._unpinnable = set(missing)
            if missing:
                log.warning("models not resident after warm-up: %s", ", ".join(missing))
        except Exception as e:
            log.warning("pinning models failed: %s", e)
