"""A simulated Ollama service shipped with the product for the devnet demo (and used by the tests).

It speaks Ollama's HTTP API — enough for the official ``ollama`` Python client, the worker (toolkit.md §8) and raw
callers: ``GET /``, ``/api/version``, ``/api/tags``, ``/api/ps``; ``POST /api/show``, ``/api/pull`` (NDJSON
progress: status / digest / total / completed), ``/api/generate`` and ``/api/chat`` (streamed NDJSON or one JSON
object), ``/api/copy``; ``DELETE /api/delete``.

Behaviour that matters to the agent is modelled:

- names: a bare name means ``name:latest``; ``llama3-8b`` matches ``llama3-8b:latest``;
- ``keep_alive``: ``0`` unloads after the request (an empty prompt with ``keep_alive: 0`` is a pure unload,
  ``done_reason: "unload"``), negative pins forever, numbers are seconds, strings are Go durations (``"5m"``),
  absent means 5 minutes; an empty prompt only loads (``done_reason: "load"``); ``/api/ps`` lists what is resident;
- timings scale with model size (:func:`~tray_agent.devnet.ollama_models.profile_for_size`) and prompt length:
  ``load_duration`` is paid when the model was not resident, ``prompt_eval_*`` follow the prefill rate, ``eval_*``
  the decode rate (nanoseconds, as Ollama reports them). Answers use ``options.num_predict`` tokens unless the
  profile sets ``answer_tokens``. Real waiting is ``time_scale`` × the simulated time (1 = real time; tests use 0);
- pulls stream progress over a time that scales with the model size (``pull_bytes_per_s``);
- tokens are counted as ``ceil(len(text) / 4)``;
- installed models persist in ``state_file`` (JSON) when one is given.

Failure injection: :meth:`SimOllama.fail` (HTTP status or an error line part-way through a pull stream) and
:meth:`SimOllama.hang`. Every request is recorded in :attr:`SimOllama.requests`.

The agent starts it with :func:`start_sim_ollama` when the devnet starts.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .ollama_models import (
    DEFAULT_KEEP_ALIVE_S,
    DEFAULT_MODELS,
    VERSION,
    Fault,
    LatencyProfile,
    OllamaModel,
    RecordedRequest,
    _Loaded,
    _now,
    normalize,
    parse_keep_alive,
    profile_for_size,
)
from .sim_ollama_http import make_handler

__all__ = ["SimOllama", "start_sim_ollama"]


class SimOllama:
    """Threaded simulated Ollama server. Configure before or after :meth:`start`."""

    def __init__(
        self,
        *,
        available: Iterable[OllamaModel] | None = None,
        installed: Iterable[str | OllamaModel] = (),
        profiles: dict[str, LatencyProfile] | None = None,
        default_profile: LatencyProfile | None = None,
        time_scale: float = 1.0,
        pull_steps: int = 5,
        pull_bytes_per_s: float | None = 1e9,
        version: str = VERSION,
        state_file: Path | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self.state_file = Path(state_file) if state_file else None
        self._sources: dict[str, str] = {}  # installed name -> available name it came from (persisted)
        self.available: dict[str, OllamaModel] = {}
        for m in DEFAULT_MODELS if available is None else available:
            self.add_available(m)
        self.installed: dict[str, OllamaModel] = {}
        self.modified: dict[str, datetime] = {}
        for m in installed:
            self.install(m)
        self.profiles: dict[str, LatencyProfile] = {normalize(k): v for k, v in (profiles or {}).items()}
        self.default_profile = default_profile
        self.time_scale = time_scale
        self.pull_steps = max(1, pull_steps)
        self.pull_bytes_per_s = pull_bytes_per_s
        self.version = version
        self.loaded: dict[str, _Loaded] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._load_state()

    # ---------------------------------------------------------------- lifecycle
    def server_class(self) -> type[ThreadingHTTPServer]:
        return ThreadingHTTPServer

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SimOllama:
        handler = make_handler(self)
        self._server = self.server_class()((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="sim-ollama",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SimOllama:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "call start() first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        assert self._server is not None, "call start() first"
        host = self._server.server_address[0]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.port}"

    # ---------------------------------------------------------------- configuration
    def add_available(self, model: OllamaModel) -> None:
        with self._lock:
            self.available[normalize(model.name)] = replace(model, name=normalize(model.name))

    def install(self, model: str | OllamaModel) -> None:
        """Mark a model as already pulled (a name must be in ``available``)."""
        with self._lock:
            m = model if isinstance(model, OllamaModel) else self.available[normalize(model)]
            src = m.name
            m = replace(m, name=normalize(m.name))
            self.installed[m.name] = m
            self._sources[m.name] = normalize(src)
            self.modified[m.name] = _now()

    def set_profile(self, model: str, profile: LatencyProfile) -> None:
        with self._lock:
            self.profiles[normalize(model)] = profile

    def fail(self, endpoint: str, **kwargs: Any) -> Fault:
        """Inject a failure (see :class:`Fault`); returns it so a test can inspect ``times`` left."""
        fault = Fault(endpoint, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def hang(self, endpoint: str, seconds: float, *, times: int | None = 1, model: str | None = None) -> Fault:
        """Delay answers on ``endpoint`` (then answer normally)."""
        return self.fail(endpoint, status=None, delay_s=seconds, times=times, model=model)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def load(self, model: str, keep_alive: Any = -1, context_length: int | None = None) -> None:
        """Make a model resident without a request (e.g. 'the worker already loaded it')."""
        with self._lock:
            m = self._installed(model)
            assert m is not None, f"{model} is not installed"
            self._set_loaded(m, parse_keep_alive(keep_alive), context_length or m.context_length)

    # ---------------------------------------------------------------- inspection
    def loaded_models(self) -> dict[str, bool]:
        """Resident models → pinned?"""
        with self._lock:
            self._expire()
            return {k: v.expires_at is None for k, v in self.loaded.items()}

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def unload_requests(self, model: str | None = None) -> list[RecordedRequest]:
        """Requests that asked to unload (``keep_alive`` 0) a model."""
        out = []
        for r in self.requests_to("/api/generate") + self.requests_to("/api/chat"):
            try:
                ka = parse_keep_alive(r.body.get("keep_alive"))
            except ValueError:
                continue
            if ka == 0 and (model is None or normalize(str(r.body.get("model", ""))) == normalize(model)):
                out.append(r)
        return out

    # ---------------------------------------------------------------- internals
    def profile_for(self, name: str) -> LatencyProfile:
        """Explicit profile, else the model's own, else ``default_profile``, else one derived from its size."""
        name = normalize(name)
        if name in self.profiles:
            return self.profiles[name]
        m = self.installed.get(name) or self.available.get(name)
        if m is not None and m.profile is not None:
            return m.profile
        if self.default_profile is not None or m is None:
            return self.default_profile or LatencyProfile()
        return profile_for_size(m.size)

    def pull_plan(self, size: int) -> tuple[int, float]:
        """(progress steps, simulated seconds) of a pull: size / ``pull_bytes_per_s``, a line every ~0.25 s."""
        if not self.pull_bytes_per_s:
            return self.pull_steps, 1.0
        total = size / self.pull_bytes_per_s
        return max(self.pull_steps, min(400, math.ceil(total / 0.25))), total

    # ---------------------------------------------------------------- persistence (installed models)
    def _load_state(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            doc = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return
        for name, src in (doc.get("installed") or {}).items():
            base = self.available.get(normalize(src))
            if base is not None:
                self.install(replace(base, name=name))
                self._sources[normalize(name)] = normalize(src)

    def save(self) -> None:
        """Persist the installed models (name → pulled source) so a restart of the agent keeps them."""
        if self.state_file is None:
            return
        with self._lock:
            doc = {"installed": {n: self._sources.get(n, n) for n in self.installed}}
        from tray_agent.common.atomic import atomic_write

        atomic_write(self.state_file, json.dumps(doc, indent=1))

    def _installed(self, name: str) -> OllamaModel | None:
        return self.installed.get(normalize(name))

    def _expire(self) -> None:
        now = _now()
        for k in [k for k, v in self.loaded.items() if v.expires_at is not None and v.expires_at <= now]:
            del self.loaded[k]

    def _set_loaded(self, m: OllamaModel, keep_alive_s: float | None, ctx: int) -> None:
        if keep_alive_s is None:
            keep_alive_s = DEFAULT_KEEP_ALIVE_S
        if keep_alive_s == 0:
            self.loaded.pop(m.name, None)
            return
        expires = None if keep_alive_s < 0 else _now() + timedelta(seconds=keep_alive_s)
        prev = self.loaded.get(m.name)
        if prev is not None and prev.context_length == ctx:
            prev.expires_at = expires
        else:
            self.loaded[m.name] = _Loaded(expires, ctx)

    def take_fault(self, endpoint: str, model: str | None) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.endpoint != endpoint:
                    continue
                if f.model is not None and (model is None or normalize(f.model) != normalize(model)):
                    continue
                if f.times is not None:
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.remove(f)
                return f
        return None

    def sleep(self, simulated_s: float) -> None:
        if self.time_scale > 0 and simulated_s > 0:
            time.sleep(simulated_s * self.time_scale)


def start_sim_ollama(host: str = "127.0.0.1", port: int = 0, *, state_file: Path | None = None,
                     time_scale: float = 1.0, installed: Iterable[str] = ()) -> tuple[str, Callable[[], None]]:
    """Start the simulated Ollama in this process (a daemon thread): returns (base URL, stop function).

    A ``port`` already taken falls back to a free one: keep the port of the returned URL for the next start, so
    the worker container's OLLAMA_URL (and its config hash) stays the same across agent restarts."""
    sim = SimOllama(state_file=state_file, time_scale=time_scale, installed=installed)
    try:
        sim.start(host, port)
    except OSError:
        if not port:
            raise
        sim.start(host, 0)
    return sim.url, sim.stop
