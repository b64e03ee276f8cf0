"""A documented stand-in for the Ollama HTTP server (no Ollama binary is available to the test environment).

It speaks enough of Ollama's HTTP API for the official ``ollama`` Python client and for raw HTTP callers:

- ``GET /``, ``GET /api/version``, ``GET /api/tags``, ``GET /api/ps``
- ``POST /api/show``, ``POST /api/pull`` (NDJSON progress: status / digest / total / completed)
- ``POST /api/generate`` and ``POST /api/chat`` (streamed NDJSON or one JSON object)
- ``DELETE /api/delete``, ``POST /api/copy``

Behaviour that matters to the agent is modelled faithfully:

- names: a bare name means ``name:latest``; ``llama3-8b`` matches ``llama3-8b:latest``;
- ``keep_alive``: ``0`` unloads after the request (an empty prompt with ``keep_alive: 0`` is a pure unload,
  ``done_reason: "unload"``), negative pins forever, numbers are seconds, strings are Go durations (``"5m"``),
  absent means 5 minutes; an empty prompt only loads (``done_reason: "load"``);
- timings come from a :class:`LatencyProfile` per model: ``load_duration`` is paid when the model was not
  resident, ``prompt_eval_count`` / ``prompt_eval_duration`` follow the prefill rate, ``eval_count`` /
  ``eval_duration`` the decode rate (all in nanoseconds, as Ollama reports them). Responses produce
  ``options.num_predict`` tokens (worst case: every job uses its full answer budget) unless the profile sets
  ``answer_tokens``. Real waiting is ``time_scale`` × the simulated time (default 0: instant tests);
- tokens are counted as ``ceil(len(text) / 4)`` (a stable, documented approximation);
- ``/api/show`` returns ``model_info`` with the architecture numbers a KV-cache estimate needs.

Failure injection: :meth:`FakeOllama.fail` (HTTP status or an error line part-way through a pull stream) and
:meth:`FakeOllama.hang` (delay before answering, to exercise client timeouts). Every request is recorded in
:attr:`FakeOllama.requests` so tests can assert what was (not) sent, e.g. "no ``keep_alive: 0`` while jobs run".

Usage::

    fake = FakeOllama(available=[FakeModel("llama3:8b", size=4_661_224_676)], installed=["llama3:8b"]).start()
    client = ollama.Client(host=fake.url)
    ...
    fake.stop()

or the ``fake_ollama`` / ``fake_ollama_factory`` pytest fixtures from ``tests/plugins/ollama.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["DEFAULT_MODELS", "Fault", "FakeModel", "FakeOllama", "LatencyProfile", "RecordedRequest", "count_tokens"]

VERSION = "0.12.6"
DEFAULT_KEEP_ALIVE_S = 300.0
PINNED_UNTIL = datetime(2318, 1, 1, tzinfo=timezone.utc)  # what Ollama shows for keep_alive < 0
_WORDS = "the claim is consistent with the evidence so the verdict is true because".split()


def count_tokens(text: str) -> int:
    """The fake's tokenizer: one token per 4 characters, at least 1 for non-empty text."""
    return math.ceil(len(text) / 4) if text else 0


@dataclass(frozen=True)
class LatencyProfile:
    """Simulated speed of one model on the fake host."""

    prefill_tps: float = 2000.0  # prompt tokens per second
    decode_tps: float = 100.0  # generated tokens per second
    load_s: float = 2.0  # cold load time
    answer_tokens: int | None = None  # None: produce num_predict tokens (or 128 when unlimited)


@dataclass(frozen=True)
class FakeModel:
    """A model the fake can pull / has installed. ``size`` is bytes on disk; ``vram`` what /api/ps reports."""

    name: str
    size: int
    family: str = "llama"
    parameter_size: str = "8.0B"
    quantization_level: str = "Q4_0"
    context_length: int = 8192
    block_count: int = 32
    embedding_length: int = 4096
    head_count: int = 32
    head_count_kv: int = 8
    capabilities: tuple[str, ...] = ("completion",)
    vram: int | None = None
    profile: LatencyProfile | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.name}:{self.size}".encode()).hexdigest()

    def model_info(self) -> dict[str, Any]:
        arch = self.family
        return {
            "general.architecture": arch,
            "general.parameter_count": int(float(self.parameter_size.rstrip("BM")) * 1e9),
            f"{arch}.context_length": self.context_length,
            f"{arch}.block_count": self.block_count,
            f"{arch}.embedding_length": self.embedding_length,
            f"{arch}.attention.head_count": self.head_count,
            f"{arch}.attention.head_count_kv": self.head_count_kv,
        }


GB = 1_000_000_000
# Models of networks.md §6 with realistic disk sizes (Ollama library tags).
DEFAULT_MODELS: tuple[FakeModel, ...] = (
    FakeModel("llama3:8b", 4_661_224_676),
    FakeModel("llama3:70b", 39_969_745_349, parameter_size="70.6B", block_count=80, embedding_length=8192, head_count=64),
    FakeModel("glm-4.7-flash:latest", 19 * GB, family="glm4moe", parameter_size="30B", block_count=47,
              embedding_length=2048, head_count=20, head_count_kv=20),
    FakeModel("gpt-oss:20b", 13_780_173_839, family="gptoss", parameter_size="20.9B", quantization_level="MXFP4",
              block_count=24, embedding_length=2880, head_count=64, capabilities=("completion", "tools", "thinking")),
    FakeModel("gpt-oss:120b", 65_290_181_902, family="gptoss", parameter_size="116.8B", quantization_level="MXFP4",
              block_count=36, embedding_length=2880, head_count=64, capabilities=("completion", "tools", "thinking")),
    FakeModel("qwen3-vl:8b", 6_136_116_224, family="qwen3vl", parameter_size="8.8B", quantization_level="Q4_K_M",
              block_count=36, capabilities=("completion", "vision", "thinking")),
    FakeModel("qwen3-vl:30b", 19_546_000_000, family="qwen3vlmoe", parameter_size="31.1B", quantization_level="Q4_K_M",
              block_count=48, embedding_length=2048, capabilities=("completion", "vision", "thinking")),
    FakeModel("qwen3-embedding:0.6b", 639_150_592, family="qwen3", parameter_size="0.6B", quantization_level="Q8_0",
              block_count=28, embedding_length=1024, head_count=16, capabilities=("embedding",)),
    FakeModel("gemma4:e2b", 7_162_394_016, family="gemma4", parameter_size="5.1B", quantization_level="Q4_K_M",
              block_count=35, embedding_length=1536, head_count=8, head_count_kv=1),
)


@dataclass
class Fault:
    """An injected failure. ``endpoint`` like ``/api/pull``; ``model`` None = any; ``times`` None = forever.

    ``after_fraction`` (pull only): stream progress up to that fraction, then an NDJSON ``error`` line.
    ``delay_s``: sleep before answering (with ``status`` None the request then succeeds normally).
    """

    endpoint: str
    status: int | None = 500
    error: str = "injected failure"
    model: str | None = None
    times: int | None = 1
    after_fraction: float | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: dict[str, Any]


@dataclass
class _Loaded:
    expires_at: datetime | None  # None = pinned
    context_length: int
    loaded_at: float = field(default_factory=time.monotonic)


def normalize(name: str) -> str:
    """Ollama's name rule: no tag means ``:latest``."""
    name = name.strip()
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


_DURATION = re.compile(r"(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_keep_alive(value: Any) -> float | None:
    """Seconds to keep the model; None = default; negative = forever. Accepts numbers and Go durations."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("keep_alive must be a number or duration")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.lstrip("+"):
        raise ValueError(f"time: invalid duration {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


class FakeOllama:
    """Threaded fake Ollama server on 127.0.0.1 (random port). Configure before or after :meth:`start`."""

    def __init__(
        self,
        *,
        available: Iterable[FakeModel] | None = None,
        installed: Iterable[str | FakeModel] = (),
        profiles: dict[str, LatencyProfile] | None = None,
        default_profile: LatencyProfile = LatencyProfile(),
        time_scale: float = 0.0,
        pull_steps: int = 5,
        version: str = VERSION,
    ) -> None:
        self._lock = threading.RLock()
        self.available: dict[str, FakeModel] = {}
        for m in DEFAULT_MODELS if available is None else available:
            self.add_available(m)
        self.installed: dict[str, FakeModel] = {}
        self.modified: dict[str, datetime] = {}
        for m in installed:
            self.install(m)
        self.profiles: dict[str, LatencyProfile] = {normalize(k): v for k, v in (profiles or {}).items()}
        self.default_profile = default_profile
        self.time_scale = time_scale
        self.pull_steps = max(1, pull_steps)
        self.version = version
        self.loaded: dict[str, _Loaded] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> FakeOllama:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-ollama", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOllama:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "call start() first"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---------------------------------------------------------------- configuration
    def add_available(self, model: FakeModel) -> None:
        with self._lock:
            self.available[normalize(model.name)] = replace(model, name=normalize(model.name))

    def install(self, model: str | FakeModel) -> None:
        """Mark a model as already pulled (a name must be in ``available``)."""
        with self._lock:
            m = model if isinstance(model, FakeModel) else self.available[normalize(model)]
            m = replace(m, name=normalize(m.name))
            self.installed[m.name] = m
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
        name = normalize(name)
        if name in self.profiles:
            return self.profiles[name]
        m = self.installed.get(name) or self.available.get(name)
        if m is not None and m.profile is not None:
            return m.profile
        return self.default_profile

    def _installed(self, name: str) -> FakeModel | None:
        return self.installed.get(normalize(name))

    def _expire(self) -> None:
        now = _now()
        for k in [k for k, v in self.loaded.items() if v.expires_at is not None and v.expires_at <= now]:
            del self.loaded[k]

    def _set_loaded(self, m: FakeModel, keep_alive_s: float | None, ctx: int) -> None:
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


# ==================================================================== HTTP layer
class _HTTPError(Exception):
    def __init__(self, status: int, error: str):
        super().__init__(error)
        self.status = status
        self.error = error


def _make_handler(fake: FakeOllama) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeOllama/" + fake.version

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            pass

        # ------------------------------------------------------------ plumbing
        def _body(self) -> dict[str, Any]:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            if not raw:
                return {}
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as e:
                raise _HTTPError(400, f"invalid JSON: {e.msg}") from e
            if not isinstance(data, dict):
                raise _HTTPError(400, "request body must be a JSON object")
            return data

        def _send_json(self, status: int, obj: Any) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_text(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _send_stream(self, parts: Iterator[dict[str, Any]]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for part in parts:
                    line = json.dumps(part).encode() + b"\n"
                    self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                    self.wfile.flush()
            except _HTTPError as e:  # errors after the header go in-band, as Ollama does
                line = json.dumps({"error": e.error}).encode() + b"\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _dispatch(self, method: str) -> None:
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            try:
                body = self._body() if method in ("POST", "DELETE") else {}
                with fake._lock:
                    fake.requests.append(RecordedRequest(method, path, body))
                route = ROUTES.get((method, path))
                if route is None:
                    if path == "/" and method in ("GET", "HEAD"):
                        return self._send_text(200, "Ollama is running")
                    return self._send_text(404, "404 page not found")
                model = body.get("model") or body.get("name") or body.get("source")
                fault = fake.take_fault(path, model)
                if fault is not None:
                    if fault.delay_s:
                        time.sleep(fault.delay_s)
                    if fault.status is not None and fault.after_fraction is None:
                        raise _HTTPError(fault.status, fault.error)
                route(self, body, fault)
            except _HTTPError as e:
                self._send_json(e.status, {"error": e.error})
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        # ------------------------------------------------------------ endpoints
        def version(self, body: dict, fault: Fault | None) -> None:
            self._send_json(200, {"version": fake.version})

        def tags(self, body: dict, fault: Fault | None) -> None:
            with fake._lock:
                models = [
                    {
                        "name": m.name,
                        "model": m.name,
                        "modified_at": _iso(fake.modified.get(m.name, _now())),
                        "size": m.size,
                        "digest": m.digest,
                        "details": _details(m),
                    }
                    for m in fake.installed.values()
                ]
            self._send_json(200, {"models": models})

        def ps(self, body: dict, fault: Fault | None) -> None:
            with fake._lock:
                fake._expire()
                models = []
                for name, st in fake.loaded.items():
                    m = fake.installed.get(name)
                    if m is None:
                        continue
                    size = m.vram if m.vram is not None else _resident_size(m, st.context_length)
                    models.append({
                        "name": name,
                        "model": name,
                        "size": size,
                        "digest": m.digest,
                        "details": _details(m),
                        "expires_at": _iso(st.expires_at or PINNED_UNTIL),
                        "size_vram": 0,  # the fake host has no GPU: everything resident in RAM
                        "context_length": st.context_length,
                    })
            self._send_json(200, {"models": models})

        def show(self, body: dict, fault: Fault | None) -> None:
            name = body.get("model") or body.get("name") or ""
            with fake._lock:
                m = fake._installed(name)
            if m is None:
                raise _HTTPError(404, f"model '{name}' not found")
            self._send_json(200, {
                "license": "",
                "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {m.name}\n",
                "parameters": 'stop "<|eot_id|>"',
                "template": "{{ .Prompt }}",
                "details": _details(m),
                "model_info": m.model_info(),
                "capabilities": list(m.capabilities),
                "modified_at": _iso(fake.modified.get(m.name, _now())),
            })

        def pull(self, body: dict, fault: Fault | None) -> None:
            name = normalize(body.get("model") or body.get("name") or "")
            stream = body.get("stream", True)
            with fake._lock:
                m = fake.available.get(name)
            if m is None:
                err = "pull model manifest: file does not exist"
                if not stream:
                    raise _HTTPError(500, err)
                return self._send_stream(iter([{"status": "pulling manifest"}, {"error": err}]))

            def progress() -> Iterator[dict[str, Any]]:
                yield {"status": "pulling manifest"}
                digest = "sha256:" + m.digest
                steps = fake.pull_steps
                for i in range(steps + 1):
                    frac = i / steps
                    if fault is not None and fault.after_fraction is not None and frac > fault.after_fraction:
                        raise _HTTPError(fault.status or 500, fault.error)
                    fake.sleep(1.0 / steps)
                    yield {"status": f"pulling {m.digest[:12]}", "digest": digest, "total": m.size,
                           "completed": m.size * i // steps}
                yield {"status": "verifying sha256 digest"}
                yield {"status": "writing manifest"}
                fake.install(m)
                yield {"status": "success"}

            if stream:
                self._send_stream(progress())
            else:
                for _ in progress():
                    pass
                self._send_json(200, {"status": "success"})

        def delete(self, body: dict, fault: Fault | None) -> None:
            name = normalize(body.get("model") or body.get("name") or "")
            with fake._lock:
                if name not in fake.installed:
                    raise _HTTPError(404, f"model '{name}' not found")
                del fake.installed[name]
                fake.loaded.pop(name, None)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def copy(self, body: dict, fault: Fault | None) -> None:
            src = normalize(body.get("source") or "")
            dst = normalize(body.get("destination") or "")
            with fake._lock:
                m = fake.installed.get(src)
                if m is None:
                    raise _HTTPError(404, f"model '{src}' not found")
                fake.installed[dst] = replace(m, name=dst)
                fake.modified[dst] = _now()
                if src in fake.profiles:
                    fake.profiles.setdefault(dst, fake.profiles[src])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def generate(self, body: dict, fault: Fault | None) -> None:
            self._infer(body, chat=False)

        def chat(self, body: dict, fault: Fault | None) -> None:
            self._infer(body, chat=True)

        def _infer(self, body: dict, *, chat: bool) -> None:
            name = body.get("model") or ""
            if not name:
                raise _HTTPError(400, "model is required")
            try:
                keep_alive = parse_keep_alive(body.get("keep_alive"))
            except ValueError as e:
                raise _HTTPError(400, str(e)) from e
            options = body.get("options") or {}
            stream = body.get("stream", True)
            if chat:
                messages = body.get("messages") or []
                prompt = "\n".join(str(msg.get("content") or "") for msg in messages)
                empty = not messages
            else:
                prompt = str(body.get("prompt") or "") + str(body.get("system") or "")
                empty = not body.get("prompt")
            with fake._lock:
                m = fake._installed(name)
                if m is None:
                    raise _HTTPError(404, f"model '{name}' not found, try pulling it first")
                if "embedding" in m.capabilities and len(m.capabilities) == 1:
                    raise _HTTPError(400, f'"{name}" does not support generate')
                fake._expire()
                ctx = int(options.get("num_ctx") or 0) or m.context_length
                resident = fake.loaded.get(m.name)
                cold = resident is None or resident.context_length != ctx
                profile = fake.profile_for(m.name)
                load_s = profile.load_s if cold else 0.0
            base = {"model": body.get("model"), "created_at": _iso(_now())}

            if empty:  # pure load / unload request
                with fake._lock:
                    if keep_alive == 0:
                        fake.loaded.pop(m.name, None)
                    else:
                        fake.sleep(load_s)
                        fake._set_loaded(m, keep_alive, ctx)
                final = {**base, "done": True, "done_reason": "unload" if keep_alive == 0 else "load"}
                if chat:
                    final["message"] = {"role": "assistant", "content": ""}
                else:
                    final["response"] = ""
                return self._send_stream(iter([final])) if stream else self._send_json(200, final)

            prompt_tokens = max(1, count_tokens(prompt))
            num_predict = int(options.get("num_predict") or 0)
            if profile.answer_tokens is not None:
                out_tokens = profile.answer_tokens if num_predict <= 0 else min(profile.answer_tokens, num_predict)
            else:
                out_tokens = num_predict if num_predict > 0 else 128
            prefill_s = prompt_tokens / profile.prefill_tps
            decode_s = out_tokens / profile.decode_tps
            fake.sleep(load_s + prefill_s)
            with fake._lock:
                fake._set_loaded(m, 1.0 if keep_alive == 0 else keep_alive, ctx)  # resident while running

            def words() -> Iterator[str]:
                for i in range(out_tokens):
                    yield _WORDS[i % len(_WORDS)] + " "

            def finish() -> dict[str, Any]:
                with fake._lock:
                    if keep_alive == 0:
                        fake.loaded.pop(m.name, None)
                    else:
                        fake._set_loaded(m, keep_alive, ctx)
                stats = {
                    "done": True,
                    "done_reason": "length" if out_tokens == num_predict else "stop",
                    "total_duration": int((load_s + prefill_s + decode_s) * 1e9) + 1_000_000,
                    "load_duration": int(load_s * 1e9),
                    "prompt_eval_count": prompt_tokens,
                    "prompt_eval_duration": int(prefill_s * 1e9),
                    "eval_count": out_tokens,
                    "eval_duration": int(decode_s * 1e9),
                }
                return {**base, "created_at": _iso(_now()), **stats}

            if stream:
                def parts() -> Iterator[dict[str, Any]]:
                    chunk = 8
                    toks = list(words())
                    for i in range(0, len(toks), chunk):
                        fake.sleep(len(toks[i:i + chunk]) / profile.decode_tps)
                        text = "".join(toks[i:i + chunk])
                        piece = {"message": {"role": "assistant", "content": text}} if chat else {"response": text}
                        yield {**base, **piece, "done": False}
                    last = finish()
                    last.update({"message": {"role": "assistant", "content": ""}} if chat else {"response": ""})
                    yield last

                return self._send_stream(parts())
            fake.sleep(decode_s)
            text = "".join(words())
            final = finish()
            final.update({"message": {"role": "assistant", "content": text}} if chat else {"response": text})
            self._send_json(200, final)

    ROUTES = {
        ("GET", "/api/version"): Handler.version,
        ("GET", "/api/tags"): Handler.tags,
        ("GET", "/api/ps"): Handler.ps,
        ("POST", "/api/show"): Handler.show,
        ("POST", "/api/pull"): Handler.pull,
        ("POST", "/api/generate"): Handler.generate,
        ("POST", "/api/chat"): Handler.chat,
        ("DELETE", "/api/delete"): Handler.delete,
        ("POST", "/api/copy"): Handler.copy,
    }
    return Handler


def _details(m: FakeModel) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": m.family,
        "families": [m.family],
        "parameter_size": m.parameter_size,
        "quantization_level": m.quantization_level,
    }


def _resident_size(m: FakeModel, ctx: int) -> int:
    """Weights + f16 KV cache for ``ctx`` tokens (what /api/ps ``size`` roughly reports)."""
    head_dim = m.embedding_length // max(1, m.head_count)
    return m.size + 2 * m.block_count * ctx * m.head_count_kv * head_dim * 2
