"""Speed test against the fake Ollama server: verdicts from latency profiles, and the 'active jobs → no unload' rule."""

from __future__ import annotations

import json
import socket

import ollama
import pytest

from tests.fakes import FakeModel, FakeOllama, LatencyProfile, count_tokens
from tray_agent.core import speedtest as stt
from tray_agent.core.speedtest import run_speed_test

FAST = LatencyProfile(prefill_tps=3000, decode_tps=80, load_s=3)  # 0.68 + 12.8 + 3 ≈ 16.5 s
MEDIUM = LatencyProfile(prefill_tps=1000, decode_tps=14, load_s=5)  # 2.05 + 73.1 + 5 ≈ 80 s of 95 → tight
SLOW = LatencyProfile(prefill_tps=200, decode_tps=6, load_s=20)  # 10.2 + 170.7 + 20 ≈ 201 s → over
DEADLINE_S = 120.0  # what the replica's getCompletionTimeout() answers by default (no default in run_speed_test)


def make_fake(factory, profiles: dict[str, LatencyProfile], installed=None) -> FakeOllama:
    fake = factory(installed=installed or ["llama3:8b"], profiles=profiles)
    client = ollama.Client(host=fake.url)
    if "llama3:8b" in (installed or ["llama3:8b"]):
        client.copy("llama3:8b", "llama3-8b")  # the on-chain name, as the runtime sets it up
        fake.set_profile("llama3-8b", profiles.get("llama3-8b", profiles.get("llama3:8b", FAST)))
    return fake


def run(fake: FakeOllama, models, active=lambda: 0, **kw) -> stt.SpeedTestResult:
    kw.setdefault("unload_settle_s", 0)
    kw.setdefault("deadline_s", DEADLINE_S)
    return run_speed_test(fake.url, models, active_jobs=active, **kw)


@pytest.mark.parametrize(
    ("profile", "verdict"),
    [(FAST, "comfortable"), (MEDIUM, "tight"), (SLOW, "over")],
)
def test_verdict_follows_latency_profile(fake_ollama_factory, profile, verdict) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": profile})
    r = run(fake, ["llama3-8b"])
    [m] = r.models
    assert (r.verdict, m.verdict, m.mode) == (verdict, verdict, "cold_start")
    assert m.decode_tps == pytest.approx(profile.decode_tps)
    assert m.prefill_tps == pytest.approx(profile.prefill_tps)
    assert m.cold_load_s == pytest.approx(profile.load_s)
    expected = profile.load_s + 2048 / profile.prefill_tps + 1024 / profile.decode_tps
    assert m.worst_job_s == pytest.approx(expected, rel=1e-6) and m.p95_job_s == pytest.approx(expected, rel=1e-6)
    assert r.budget_s == 95 and m.ratio == pytest.approx(expected / 95)
    assert len(m.samples) == 3 and all(s.answer_tokens == 1024 for s in m.samples)
    if verdict == "over":
        assert any("needs ≥" in a for a in m.advice)
    json.dumps(r.to_dict())


def test_every_served_model_is_tested_and_worst_decides(fake_ollama_factory) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": FAST, "qwen3-vl:8b": SLOW},
                     installed=["llama3:8b", "qwen3-vl:8b"])
    r = run(fake, ["llama3-8b", "qwen3-vl:8b"], runs=2)
    assert [m.model for m in r.models] == ["llama3-8b", "qwen3-vl:8b"]
    assert [m.verdict for m in r.models] == ["comfortable", "over"] and r.verdict == "over"
    # qwen3-vl has the "thinking" capability: judged on the worker's reasoning budget (4096 tokens)
    assert r.models[1].answer_tokens == 4096
    assert r.complete and "qwen3-vl:8b: over" in r.message
    # idle worker: exactly one cold-start unload per model, and every model is pinned again at the end
    assert len(fake.unload_requests("llama3-8b")) == 1 and len(fake.unload_requests("qwen3-vl:8b")) == 1
    assert fake.loaded_models() == {"llama3-8b:latest": True, "qwen3-vl:8b": True}


def test_runs_use_protocol_options_and_fresh_prompts(fake_ollama_factory) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": FAST})
    run(fake, ["llama3-8b"], runs=3, num_ctx=8192, max_run_tokens=256)
    gens = [r.body for r in fake.requests_to("/api/generate") if r.body.get("prompt", "").startswith("Case")]
    assert len(gens) == 3
    assert len({g["prompt"] for g in gens}) == 3  # no shared prefix to hit Ollama's prompt cache
    for g in gens:
        assert g["options"]["temperature"] == 0 and g["options"]["seed"] == 42 and g["options"]["num_ctx"] == 8192
        assert g["options"]["num_predict"] == 256 and g["keep_alive"] == -1 and g["stream"] is False
        assert 1900 <= count_tokens(g["prompt"]) <= 2100  # the worst-case prompt of the budget formula


def test_model_options_override_answer_budget(fake_ollama_factory) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": MEDIUM})
    r = run(fake, ["llama3-8b"], model_options={"llama3-8b": {"num_predict": 256}})
    assert r.models[0].answer_tokens == 256 and r.models[0].verdict == "comfortable"


# --------------------------------------------------------------------------- active jobs → no unload


def test_busy_worker_tests_loaded_model_without_unload_or_reload(fake_ollama_factory) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": FAST})
    fake.load("llama3-8b", keep_alive=-1, context_length=8192)  # the worker's pinned production model
    r = run(fake, ["llama3-8b"], active=lambda: 2, num_ctx=8192)
    [m] = r.models
    assert fake.unload_requests() == []
    assert m.mode == "loaded" and m.cold_load_s is None
    assert all(s.load_s == 0 for s in m.samples)  # same num_ctx: Ollama did not reload
    assert m.verdict == "comfortable" and any("re-run" in a for a in m.advice)
    assert r.active_jobs_at_start == 2
    assert fake.loaded_models() == {"llama3-8b:latest": True}  # still pinned


def test_busy_worker_uses_the_loaded_context_even_if_caller_does_not_know_it(fake_ollama_factory) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": FAST})
    fake.load("llama3-8b", keep_alive=-1, context_length=16384)
    r = run(fake, ["llama3-8b"], active=lambda: 1)  # num_ctx not passed
    assert all(s.load_s == 0 for s in r.models[0].samples)
    assert {q.body["options"]["num_ctx"] for q in fake.requests_to("/api/generate")} == {16384}
    assert fake.loaded_models() == {"llama3-8b:latest": True}


def test_busy_worker_postpones_models_that_are_not_loaded(fake_ollama_factory) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": FAST}, installed=["llama3:8b", "gpt-oss:20b"])
    fake.load("llama3-8b")
    r = run(fake, ["llama3-8b", "gpt-oss:20b"], active=lambda: 1)
    assert [m.verdict for m in r.models] == ["comfortable", "postponed"]
    assert not r.complete and "evict" in (r.models[1].error or "")
    assert fake.unload_requests() == []
    assert not [q for q in fake.requests_to("/api/generate") if q.body.get("model") == "gpt-oss:20b"]


def test_unreadable_metrics_count_as_busy(fake_ollama_factory) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": FAST})
    fake.load("llama3-8b")

    def metrics_down() -> int:
        raise ConnectionError("metrics endpoint unreachable")

    r = run(fake, ["llama3-8b"], active=metrics_down)
    assert fake.unload_requests() == [] and r.models[0].mode == "loaded" and r.active_jobs_at_start is None


def test_job_arriving_mid_test_stops_further_unloads(fake_ollama_factory) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": FAST, "qwen3-vl:8b": FAST},
                     installed=["llama3:8b", "qwen3-vl:8b"])
    fake.load("qwen3-vl:8b")
    readings = iter([0, 0, 1, 1, 1])  # start, before model 1, before model 2, ...
    r = run(fake, ["llama3-8b", "qwen3-vl:8b"], active=lambda: next(readings))
    assert [m.mode for m in r.models] == ["cold_start", "loaded"]
    assert len(fake.unload_requests("llama3-8b")) == 1 and fake.unload_requests("qwen3-vl:8b") == []


def test_postpone_policy_sends_nothing(fake_ollama_factory) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": FAST})
    r = run(fake, ["llama3-8b"], active=lambda: 1, when_busy="postpone")
    assert r.verdict == "postponed" and r.models[0].verdict == "postponed"
    assert fake.requests_to("/api/generate") == []


# --------------------------------------------------------------------------- failures and progress


def test_ollama_not_responding() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = run_speed_test(f"http://127.0.0.1:{port}", ["llama3-8b"], active_jobs=lambda: 0, deadline_s=DEADLINE_S)
    assert r.verdict == "error" and "Ollama not responding" in r.message and r.models == []


def test_missing_model_and_server_error(fake_ollama_factory) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": FAST})
    fake.fail("/api/generate", status=500, error="CUDA error: out of memory", times=None, model="llama3-8b")
    r = run(fake, ["llama3-8b", "gpt-oss:20b"])
    assert [m.verdict for m in r.models] == ["error", "error"] and r.verdict == "error"
    assert "out of memory" in r.models[0].error and "not pulled" in r.models[1].error


def test_no_usable_response(fake_ollama_factory) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": LatencyProfile(answer_tokens=0)})
    r = run(fake, ["llama3-8b"])
    assert r.models[0].verdict == "error" and "no usable response" in r.models[0].error


def test_progress_is_streamed_and_monotonic(fake_ollama_factory) -> None:
    fake = make_fake(fake_ollama_factory, {"llama3-8b": FAST})
    seen: list[tuple[str, float]] = []
    run(fake, ["llama3-8b"], progress=lambda msg, frac: seen.append((msg, frac)))
    fracs = [f for _, f in seen]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0 and 0 < fracs[0] < 1
    assert any("run 3/3" in m for m, _ in seen) and any("cold load" in m for m, _ in seen)


def test_concurrency_advice_and_pure_helpers() -> None:
    m = stt.ModelSpeed("x", "tight", cold_load_s=5, warm_job_max_s=50, decode_tps=20, prefill_tps=500)
    assert any("MAX_CONCURRENT_JOBS=1" in a for a in stt._advise(m, 95, 2048, 2))
    assert not any("MAX_CONCURRENT_JOBS" in a for a in stt._advise(m, 95, 2048, 1))
    assert stt.p95([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == 10 and stt.p95([3.0]) == 3.0
    assert stt.p95(list(range(1, 41))) == 38
    assert (stt.classify(66.4, 95), stt.classify(66.5, 95), stt.classify(95, 95)) == ("comfortable", "tight", "over")
    with pytest.raises(ValueError):
        run_speed_test("http://127.0.0.1:1", ["x"], active_jobs=lambda: 0, deadline_s=20)


def test_fake_model_profile_on_model() -> None:
    m = FakeModel("tiny:1b", 10**9, profile=LatencyProfile(prefill_tps=500, decode_tps=25, load_s=1))
    with FakeOllama(available=[m], installed=["tiny:1b"]) as fake:
        r = run(fake, ["tiny:1b"], runs=1)
        assert r.models[0].decode_tps == pytest.approx(25)
