"""HTTP layer of the simulated Ollama server: the endpoints of Ollama's API (see :mod:`tray_agent.devnet.sim_ollama`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from .ollama_models import (
    PINNED_UNTIL,
    Fault,
    RecordedRequest,
    _details,
    _iso,
    _now,
    _resident_size,
    count_tokens,
    normalize,
    parse_keep_alive,
)

if TYPE_CHECKING:
    from .sim_ollama import SimOllama

_WORDS = "the claim is consistent with the evidence so the verdict is true because".split()


class _HTTPError(Exception):
    def __init__(self, status: int, error: str):
        super().__init__(error)
        self.status = status
        self.error = error


def make_handler(fake: SimOllama) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "Ollama/" + fake.version

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
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
                steps, total_s = fake.pull_plan(m.size)  # simulated download time scales with the model size
                for i in range(steps + 1):
                    frac = i / steps
                    if fault is not None and fault.after_fraction is not None and frac > fault.after_fraction:
                        raise _HTTPError(fault.status or 500, fault.error)
                    fake.sleep(total_s / steps)
                    yield {"status": f"pulling {m.digest[:12]}", "digest": digest, "total": m.size,
                           "completed": m.size * i // steps}
                yield {"status": "verifying sha256 digest"}
                yield {"status": "writing manifest"}
                fake.install(m)
                fake.save()
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
                fake.save()
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
                fake._sources[dst] = fake._sources.get(src, src)
                fake.modified[dst] = _now()
                if src in fake.profiles:
                    fake.profiles.setdefault(dst, fake.profiles[src])
                fake.save()
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
