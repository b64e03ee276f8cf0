"""Model pinning against the fake Ollama (no Ollama binary can run here: tests/fakes/fake_ollama.py stands in;
it records every request, so unload requests — keep_alive 0 — are visible)."""

from __future__ import annotations

from tests.runtime.conftest import wait_for
from tray_agent.core.runtime.ollama import OllamaManager
from tray_agent.core.runtime.pinning import ModelPinner

A, B = "llama3:8b", "gpt-oss:20b"


def manager(fake) -> OllamaManager:
    for m in (A, B):
        fake.install(m)
    return OllamaManager(fake.url, allow_host_start=False)


def test_served_models_pinned_after_each_run(fake_ollama, tmp_path):
    p = ModelPinner(manager(fake_ollama), tmp_path / "served.json")
    assert p.step([A, B], "run-1") is True
    p.wait()
    assert fake_ollama.loaded_models() == {A: True, B: True}
    n = len(fake_ollama.requests_to("/api/generate"))
    p.step([A, B], "run-1")  # same run, all resident: nothing sent
    p.wait()
    assert len(fake_ollama.requests_to("/api/generate")) == n
    p.step([A, B], "run-2")  # worker restarted: warm again
    p.wait()
    assert len(fake_ollama.requests_to("/api/generate")) > n
    assert not fake_ollama.unload_requests()


def test_model_change_unloads_dropped_models(fake_ollama, tmp_path):
    p = ModelPinner(manager(fake_ollama), tmp_path / "served.json")
    p.step([A, B], "run-1")
    p.wait()
    p.step([A], "run-1")
    p.wait()
    assert fake_ollama.unload_requests(B), "the dropped model must be unloaded"
    assert not fake_ollama.unload_requests(A)
    assert fake_ollama.loaded_models() == {A: True}
    assert p.unloaded == [B]


def test_model_change_before_an_agent_restart_still_unloads(fake_ollama, tmp_path):
    mgr = manager(fake_ollama)
    first = ModelPinner(mgr, tmp_path / "served.json")
    first.step([A, B], "run-1")
    first.wait()
    second = ModelPinner(mgr, tmp_path / "served.json")  # a new agent process
    second.step([B], "run-9")
    second.wait()
    assert fake_ollama.unload_requests(A) and fake_ollama.loaded_models() == {B: True}


def test_ollama_down_reported_and_nothing_sent(fake_ollama, tmp_path):
    p = ModelPinner(manager(fake_ollama), tmp_path / "served.json")
    fake_ollama.stop()
    assert p.step([A], "run-1") is False and p.up is False
    assert not p.busy


def test_unload_failure_is_retried(fake_ollama, tmp_path):
    p = ModelPinner(manager(fake_ollama), tmp_path / "served.json")
    p.step([A, B], "run-1")
    p.wait()

    class Flaky:  # the unload call itself raising (e.g. Ollama restarting): served set is kept, retried next step
        calls = 0

        def __getattr__(self, name):
            return getattr(real, name)

        def unload(self, models):
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise OSError("connection reset")
            real.unload(models)

    real = p.ollama
    p.ollama = Flaky()
    p.step([A], "run-1")
    p.wait()
    assert not fake_ollama.unload_requests(B)
    p.step([A], "run-1")
    p.wait()
    wait_for(lambda: fake_ollama.unload_requests(B), 5, what="unload retried")


def test_a_model_that_cannot_be_warmed_is_not_retried_every_tick(fake_ollama, tmp_path):
    """An embedding-only model has no generate: its warm-up fails. That was retried on every supervisor tick (a
    hot loop of failing requests and warnings); now once per worker run or model change."""
    emb = "qwen3-embedding:0.6b"
    mgr = manager(fake_ollama)
    fake_ollama.install(emb)
    p = ModelPinner(mgr, tmp_path / "served.json")
    p.step([A, emb], "run-1")
    p.wait()
    n = len(fake_ollama.requests_to("/api/generate"))
    assert n >= 2 and fake_ollama.loaded_models().get(A)
    for _ in range(3):
        p.step([A, emb], "run-1")
        p.wait()
    assert len(fake_ollama.requests_to("/api/generate")) == n, "warm-ups repeated within one run"
    p.step([A, emb], "run-2")  # a restart tries again
    p.wait()
    assert len(fake_ollama.requests_to("/api/generate")) > n
