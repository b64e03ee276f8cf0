"""Inference of the simulated worker's jobs: a timed sleep per model, or a real call to Ollama (toolkit.md §8)."""

from __future__ import annotations

import json
import threading
import urllib.request

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class JobCanceled(Exception):
    """The pipeline stopped because the worker is shutting down (§11: in-flight jobs are cancelled)."""


def duration(text: str | None, default: float) -> float:
    """Go-style ``4s`` / ``250ms`` / ``2m`` (a bare number = seconds)."""
    t = (text or "").strip()
    if not t:
        return default
    for unit in ("ms", "s", "m", "h"):
        if t.endswith(unit) and t[: -len(unit)].replace(".", "", 1).isdigit():
            return float(t[: -len(unit)]) * _UNITS[unit]
    return float(t)


def job_seconds(spec: str, model: str) -> float:
    """``SIM_JOB_SECONDS``: one number for all models, or ``model=seconds`` pairs with an optional ``*``."""
    table: dict[str, float] = {}
    for part in (spec or "3").split(","):
        name, sep, secs = part.strip().rpartition("=")
        if part.strip():
            table[name if sep else "*"] = float(secs)
    return table.get(model, table.get("*", 3.0))


def infer(env: dict[str, str], model: str, cancel: threading.Event, budget_s: float) -> None:
    if env.get("SIM_INFERENCE", "sleep") == "ollama":
        return _ollama(env, model, cancel, budget_s)
    if cancel.wait(min(job_seconds(env.get("SIM_JOB_SECONDS", ""), model), budget_s)):
        raise JobCanceled

def _ollama(env: dict[str, str], model: str, cancel: threading.Event, budget_s: float) -> None:
    """§8: /api/generate with keep_alive, temperature 0 and seed 42; cancelled like a Go context."""
    url = env.get("OLLAMA_URL", "http://localhost:11434").rstrip("/") + "/api/generate"
    body = json.dumps({"model": model, "prompt": "devnet job " * 40, "stream": False,
                       "keep_alive": int(env.get("OLLAMA_KEEP_ALIVE", "-1") or -1),
                       "options": {"num_predict": int(env.get("OLLAMA_NUM_PREDICT", "64") or 64),
                                   "temperature": 0, "seed": 42}}).encode()
    result: dict[str, BaseException | None] = {"error": None}
    done = threading.Event()

    def call() -> None:
        try:
            req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=max(1.0, budget_s)) as r:
                r.read()
        except BaseException as e:  # noqa: BLE001 - handed to the job thread
            result["error"] = e
        done.set()

    threading.Thread(target=call, daemon=True).start()
    while not done.wait(0.1):
        if cancel.is_set():
            raise JobCanceled
    if result["error"] is not None:
        raise RuntimeError(f"ollama generate request: {result['error']}")
