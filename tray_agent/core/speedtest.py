"""Speed test: can this machine answer a worst-case job for every served model before the deadline?

Per model: (cold start when the worker is idle) → warm-up → ``runs`` generations with a realistic prompt and answer
length. Prefill and decode rates come from Ollama's own counters (``prompt_eval_count/duration``,
``eval_count/duration``). The budget formula (reference-app.md §8) extrapolates each run to a worst-case job:

    job = cold_load + prompt_tokens / prefill_tps + answer_tokens / decode_tps

and compares max and p95 with the inference budget = job deadline (the chain's completion timeout, passed as
``deadline_s``; see ``core/deadline.py``) − the worker's settle reserve (25 s to submit the result, toolkit.md §3).
``< 70 %`` comfortable, ``< 100 %`` tight, else over.

Safety rule: a production model is never unloaded or reloaded while the worker has active jobs (or when that
cannot be read): busy → test the already-loaded model as is (same ``num_ctx`` and ``keep_alive`` as the worker,
so Ollama does not reload) or postpone.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import httpx
import ollama

Verdict = Literal["comfortable", "tight", "over", "postponed", "error"]
Mode = Literal["cold_start", "loaded"]
Progress = Callable[[str, float], None]

SETTLE_RESERVE_S = 25.0  # DEADLINE_SETTLE_RESERVE: time the worker keeps to submit the result
PROMPT_TOKENS = 2048  # worst-case prompt of the budget formula
ANSWER_TOKENS = 1024  # OLLAMA_NUM_PREDICT default
REASONING_ANSWER_TOKENS = 4096  # OLLAMA_REASONING_NUM_PREDICT for models with the "thinking" capability
COMFORT_RATIO = 0.7
KEEP_ALIVE = -1  # the worker's OLLAMA_KEEP_ALIVE: sending the same value never changes residency
PROTOCOL_OPTIONS = {"temperature": 0, "seed": 42}  # toolkit.md §8: what the worker sends

_JUDGE = (
    "You are verifying a claim for a decentralised AI network. Read the evidence, reason step by step about whether "
    "the claim follows from it, list any contradictions, and finish with a JSON object "
    '{"verdict": "true" | "false" | "uncertain", "confidence": 0-1, "reasons": [...]}. '
)
_EVIDENCE = (
    "Record {i}: the shipment left the warehouse on day {d} with {n} crates; the receiving clerk counted {m} crates "
    "and noted that the seal number matched the manifest except for entry {i}, which was rewritten by hand. "
)


@dataclass(frozen=True)
class RunSample:
    prompt_tokens: int
    prompt_eval_s: float
    answer_tokens: int
    eval_s: float
    load_s: float
    prefill_tps: float
    decode_tps: float
    wall_s: float
    job_s: float  # extrapolated worst-case job (without cold load)


@dataclass
class ModelSpeed:
    model: str
    verdict: Verdict
    mode: Mode | None = None
    answer_tokens: int = ANSWER_TOKENS
    cold_load_s: float | None = None
    prefill_tps: float | None = None  # median over runs
    decode_tps: float | None = None
    warm_job_max_s: float | None = None  # max over runs, model already loaded
    worst_job_s: float | None = None  # max + cold load
    p95_job_s: float | None = None  # p95 + cold load
    ratio: float | None = None  # worst / budget
    samples: list[RunSample] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class SpeedTestResult:
    started_at: str
    finished_at: str
    verdict: Verdict
    deadline_s: float
    budget_s: float
    prompt_tokens: int
    runs: int
    active_jobs_at_start: int | None  # None = could not be read (treated as busy)
    models: list[ModelSpeed]
    message: str
    advice: list[str] = field(default_factory=list)
    gpus: list[dict[str, Any]] = field(default_factory=list)  # the worker's GPU group the test ran on ([] = all)

    @property
    def complete(self) -> bool:
        return all(m.verdict in ("comfortable", "tight", "over") for m in self.models) and bool(self.models)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["complete"] = self.complete
        return d


# --------------------------------------------------------------------------- helpers
def build_prompt(tokens: int, nonce: int) -> str:
    """A judging prompt of about ``tokens`` tokens (4 characters per token). ``nonce`` leads the text so
    Ollama cannot reuse a cached prefix from the previous run (that would fake the prefill rate)."""
    head = f"Case {nonce}-{time.monotonic_ns() % 100000}. " + _JUDGE
    parts, i = [head], 0
    target = tokens * 4
    while sum(len(p) for p in parts) < target - 200:
        i += 1
        parts.append(_EVIDENCE.format(i=i + nonce, d=(i * 7 + nonce) % 28 + 1, n=40 + i % 13, m=40 + (i * 3) % 13))
    parts.append("Claim: every crate that left the warehouse arrived with an intact seal. Answer now.")
    return "".join(parts)


def p95(values: Sequence[float]) -> float:
    """Nearest-rank 95th percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(0.95 * len(s)) - 1)]


def classify(worst_s: float, budget_s: float) -> Verdict:
    if worst_s < COMFORT_RATIO * budget_s:
        return "comfortable"
    if worst_s < budget_s:
        return "tight"
    return "over"


def _read_active(active_jobs: Callable[[], int]) -> int | None:
    try:
        return int(active_jobs())
    except Exception:  # metrics unreachable: unknown, and unknown counts as busy
        return None


def _names_match(requested: str, ollama_name: str) -> bool:
    return ollama_name == requested or ollama_name == f"{requested}:latest"


def _sample(r: Any, prompt_tokens: int, answer_tokens: int, wall_s: float) -> RunSample:
    if not r.eval_count or not r.eval_duration:
        raise ValueError("no usable response (Ollama reported no eval_count/eval_duration)")
    decode = r.eval_count / (r.eval_duration / 1e9)
    if r.prompt_eval_count and r.prompt_eval_duration:
        prefill = r.prompt_eval_count / (r.prompt_eval_duration / 1e9)
    else:
        prefill = decode  # spec fallback when Ollama reports no prompt timing
    job = prompt_tokens / prefill + answer_tokens / decode
    return RunSample(
        prompt_tokens=int(r.prompt_eval_count or 0),
        prompt_eval_s=(r.prompt_eval_duration or 0) / 1e9,
        answer_tokens=int(r.eval_count),
        eval_s=r.eval_duration / 1e9,
        load_s=(r.load_duration or 0) / 1e9,
        prefill_tps=prefill,
        decode_tps=decode,
        wall_s=wall_s,
        job_s=job,
    )


def _advise(m: ModelSpeed, budget_s: float, prompt_tokens: int, max_concurrent_jobs: int) -> list[str]:
    out: list[str] = []
    load = m.cold_load_s or 0.0
    if m.verdict == "over" and m.prefill_tps:
        left = budget_s - load - prompt_tokens / m.prefill_tps
        need = f"≥ {m.answer_tokens / left:.1f} tok/s" if left > 0 else "more than this machine can give"
        out.append(f"{m.model} decodes {m.decode_tps:.1f} tok/s but needs {need} to answer {m.answer_tokens} tokens "
                   f"within {budget_s:.0f} s: serve a smaller model or run it on a GPU with enough memory")
    elif m.verdict == "tight":
        out.append(f"{m.model} makes the deadline with little margin: keep it pinned and avoid other GPU load")
    if load > 0.3 * budget_s:
        out.append(f"cold load of {m.model} takes {load:.0f} s: keep it pinned (keep_alive -1) and serve only models "
                   "that fit in memory together")
    if m.warm_job_max_s is not None and max_concurrent_jobs > 1 and m.verdict != "over":
        if load + m.warm_job_max_s * max_concurrent_jobs >= budget_s:
            out.append(f"{max_concurrent_jobs} concurrent jobs would queue in Ollama and the last would miss the "
                       "deadline: set MAX_CONCURRENT_JOBS=1")
    if m.mode == "loaded" and m.cold_load_s is None:
        out.append("cold load not measured (the worker was busy): re-run the speed test when it is idle")
    return out


# --------------------------------------------------------------------------- main
class _Stepper:
    def __init__(self, progress: Progress | None, total: int):
        self.progress, self.total, self.done = progress, max(1, total), 0

    def __call__(self, message: str, advance: int = 1) -> None:
        self.done = min(self.total, self.done + advance)
        if self.progress is not None:
            self.progress(message, self.done / self.total)


def run_speed_test(
    ollama_url: str,
    models: Sequence[str],
    *,
    active_jobs: Callable[[], int],
    deadline_s: float,
    progress: Progress | None = None,
    settle_reserve_s: float = SETTLE_RESERVE_S,
    runs: int = 3,
    prompt_tokens: int = PROMPT_TOKENS,
    answer_tokens: int = ANSWER_TOKENS,
    reasoning_answer_tokens: int = REASONING_ANSWER_TOKENS,
    max_run_tokens: int | None = None,
    model_options: Mapping[str, Mapping[str, Any]] | None = None,
    num_ctx: int | None = None,
    when_busy: Literal["use_loaded", "postpone"] = "use_loaded",
    max_concurrent_jobs: int = 2,
    unload_settle_s: float = 1.0,
    cancel: threading.Event | None = None,
) -> SpeedTestResult:
    """Speed-test every model in ``models`` (the worker's SUPPORTED_MODELS) against ``ollama_url`` by ``deadline_s``.

    ``active_jobs`` returns the worker's in-flight jobs (``worker_active_jobs`` metric); it is read before every
    unload. ``model_options``/``num_ctx`` must mirror the worker's MODEL_OPTIONS / OLLAMA_NUM_CTX so the test runs
    the model exactly as loaded. ``max_run_tokens`` caps generated tokens per run (rates are extrapolated).
    """
    started = datetime.now(timezone.utc).isoformat()
    budget = deadline_s - settle_reserve_s
    if budget <= 0 or runs < 1 or prompt_tokens < 1 or answer_tokens < 1:
        raise ValueError("need deadline > settle reserve, runs ≥ 1 and positive token counts")
    step = _Stepper(progress, 1 + len(models) * (2 + runs))

    def finish(verdict: Verdict, results: list[ModelSpeed], message: str, active: int | None) -> SpeedTestResult:
        advice = [a for m in results for a in m.advice]
        step("speed test finished", step.total)
        return SpeedTestResult(started, datetime.now(timezone.utc).isoformat(), verdict, deadline_s, budget,
                               prompt_tokens, runs, active, results, message, advice)

    probe = ollama.Client(host=ollama_url, timeout=5)
    client = ollama.Client(host=ollama_url, timeout=deadline_s + 60)
    try:
        tags = [m.model or "" for m in probe.list().models]
        loaded = {m.model or "": m.context_length for m in probe.ps().models}
    except (ConnectionError, httpx.HTTPError, ollama.ResponseError) as e:
        return finish("error", [], f"⛔ Ollama not responding at {ollama_url} ({e}) — start Ollama and retry", None)
    active0 = _read_active(active_jobs)
    step(f"Ollama answered; worker active jobs: {'unknown' if active0 is None else active0}")
    if active0 != 0 and when_busy == "postpone":
        busy = "unknown" if active0 is None else str(active0)
        results = [ModelSpeed(m, "postponed", error=f"worker busy ({busy} active jobs)") for m in models]
        return finish("postponed", results, f"postponed: the worker has {busy} active jobs; retry when idle", active0)

    results: list[ModelSpeed] = []
    for name in models:
        if cancel is not None and cancel.is_set():
            results.append(ModelSpeed(name, "postponed", error="cancelled"))
            continue
        results.append(_test_model(
            client, name, tags, loaded, active_jobs, step, budget=budget, runs=runs, prompt_tokens=prompt_tokens,
            answer_tokens=answer_tokens, reasoning_answer_tokens=reasoning_answer_tokens,
            max_run_tokens=max_run_tokens, options=dict((model_options or {}).get(name, {})), num_ctx=num_ctx,
            unload_settle_s=unload_settle_s, cancel=cancel,
        ))
        results[-1].advice = _advise(results[-1], budget, prompt_tokens, max_concurrent_jobs)

    tested = [m.verdict for m in results if m.verdict in ("comfortable", "tight", "over")]
    if "over" in tested:
        verdict: Verdict = "over"
    elif "tight" in tested:
        verdict = "tight"
    elif tested:
        verdict = "comfortable"
    elif any(m.verdict == "error" for m in results):
        verdict = "error"
    else:
        verdict = "postponed"
    lines = []
    for m in results:
        if m.worst_job_s is not None:
            lines.append(f"{m.model}: {m.verdict} — worst {m.worst_job_s:.1f} s (p95 {m.p95_job_s:.1f} s) "
                         f"of {budget:.0f} s; decode {m.decode_tps:.1f} tok/s, prefill {m.prefill_tps:.0f} tok/s")
        else:
            lines.append(f"{m.model}: {m.verdict} — {m.error}")
    return finish(verdict, results, "\n".join(lines), active0)


def _test_model(
    client: ollama.Client,
    name: str,
    tags: list[str],
    loaded: dict[str, int | None],
    active_jobs: Callable[[], int],
    step: _Stepper,
    *,
    budget: float,
    runs: int,
    prompt_tokens: int,
    answer_tokens: int,
    reasoning_answer_tokens: int,
    max_run_tokens: int | None,
    options: dict[str, Any],
    num_ctx: int | None,
    unload_settle_s: float,
    cancel: threading.Event | None,
) -> ModelSpeed:
    if not any(_names_match(name, t) for t in tags):
        step(f"{name}: not pulled", 2 + runs)
        return ModelSpeed(name, "error", error=f"{name} is not pulled in Ollama — pull it first")
    answer = answer_tokens
    try:
        if "thinking" in (client.show(name).capabilities or []):
            answer = reasoning_answer_tokens  # the worker's reasoning budget for such models
    except (ConnectionError, httpx.HTTPError, ollama.ResponseError):
        pass
    answer = int(options.pop("num_predict", answer))
    if answer <= 0:  # -1/-2 (unlimited / fill context): judge by the worker's default budget
        answer = answer_tokens
    ctx = options.pop("num_ctx", num_ctx)
    base_options: dict[str, Any] = {**PROTOCOL_OPTIONS, **options}
    if ctx:
        base_options["num_ctx"] = int(ctx)
    result = ModelSpeed(name, "error", answer_tokens=answer)

    active = _read_active(active_jobs)
    resident = next((n for n in loaded if _names_match(name, n)), None)
    try:
        if active == 0:
            step(f"{name}: unloading for a cold start")
            client.generate(model=name, keep_alive=0)
            time.sleep(unload_settle_s)
            result.mode = "cold_start"
        elif resident is not None:
            step(f"{name}: worker busy ({'unknown' if active is None else active} jobs) — testing the loaded model")
            result.mode = "loaded"
            if loaded[resident]:  # ask for exactly the loaded context: a different num_ctx would reload the model
                base_options["num_ctx"] = loaded[resident]
        else:
            step(f"{name}: postponed (worker busy, model not loaded)", 2 + runs)
            result.verdict = "postponed"
            result.error = ("worker busy and the model is not loaded: loading it now could evict a model serving a "
                            "job — retry when idle")
            return result

        warm = client.generate(model=name, prompt="ok", keep_alive=KEEP_ALIVE,
                               options={**base_options, "num_predict": 1})
        if result.mode == "cold_start":
            result.cold_load_s = (warm.load_duration or 0) / 1e9
        step(f"{name}: warmed up" + (f" (cold load {result.cold_load_s:.1f} s)" if result.cold_load_s is not None else ""))

        run_tokens = answer if max_run_tokens is None else min(answer, max_run_tokens)
        for i in range(runs):
            if cancel is not None and cancel.is_set():
                break
            prompt = build_prompt(prompt_tokens, i + 1)
            t0 = time.monotonic()
            r = client.generate(model=name, prompt=prompt, keep_alive=KEEP_ALIVE, stream=False,
                                options={**base_options, "num_predict": run_tokens})
            s = _sample(r, prompt_tokens, answer, time.monotonic() - t0)
            result.samples.append(s)
            step(f"{name}: run {i + 1}/{runs} — decode {s.decode_tps:.1f} tok/s, prefill {s.prefill_tps:.0f} tok/s, "
                 f"job ~{s.job_s:.1f} s")
    except httpx.TimeoutException:
        result.verdict = "over"
        result.error = f"a run took longer than {budget:.0f} s + 60 s and was abandoned"
        return result
    except (ConnectionError, httpx.HTTPError, ollama.ResponseError, ValueError) as e:
        result.error = f"{name}: {e}"
        return result
    if not result.samples:
        result.verdict, result.error = "postponed", "cancelled"
        return result

    jobs = [s.job_s for s in result.samples]
    load = result.cold_load_s or 0.0
    result.prefill_tps = statistics.median(s.prefill_tps for s in result.samples)
    result.decode_tps = statistics.median(s.decode_tps for s in result.samples)
    result.warm_job_max_s = max(jobs)
    result.worst_job_s = max(jobs) + load
    result.p95_job_s = p95(jobs) + load
    result.ratio = result.worst_job_s / budget
    result.verdict = classify(result.worst_job_s, budget)
    return result
