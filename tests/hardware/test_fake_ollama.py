"""The fake Ollama server speaks enough of the API for the official ``ollama`` client."""

from __future__ import annotations

import httpx
import ollama
import pytest

from tests.fakes import FakeModel, FakeOllama, LatencyProfile


def test_version_tags_empty(fake_ollama: FakeOllama) -> None:
    c = ollama.Client(host=fake_ollama.url)
    assert httpx.get(fake_ollama.url + "/api/version").json()["version"]
    assert c.list().models == []
    assert c.ps().models == []
    assert httpx.get(fake_ollama.url + "/").text == "Ollama is running"


def test_pull_streams_progress_then_installed(fake_ollama: FakeOllama) -> None:
    c = ollama.Client(host=fake_ollama.url)
    parts = list(c.pull("llama3:8b", stream=True))
    assert parts[0].status == "pulling manifest"
    sizes = [p.completed for p in parts if p.total]
    assert sizes == sorted(sizes) and sizes[-1] == parts[1].total == 4_661_224_676
    assert all(p.digest.startswith("sha256:") for p in parts if p.total)
    assert parts[-1].status == "success"
    tags = c.list().models
    assert [m.model for m in tags] == ["llama3:8b"] and tags[0].size == 4_661_224_676
    assert c.pull("gpt-oss:20b", stream=False).status == "success"


def test_pull_unknown_and_injected_failures(fake_ollama: FakeOllama) -> None:
    c = ollama.Client(host=fake_ollama.url)
    with pytest.raises(ollama.ResponseError, match="file does not exist"):
        list(c.pull("nope:1b", stream=True))
    fake_ollama.fail("/api/pull", error="max retries exceeded: connection reset", after_fraction=0.5)
    seen = []
    with pytest.raises(ollama.ResponseError, match="max retries exceeded"):
        for p in c.pull("llama3:8b", stream=True):
            seen.append(p)
    assert 0 < max(p.completed or 0 for p in seen) < 4_661_224_676
    assert c.list().models == []  # not installed after a failed pull
    fake_ollama.fail("/api/tags", status=500, error="boom")
    with pytest.raises(ollama.ResponseError) as ei:
        c.list()
    assert ei.value.status_code == 500
    assert c.list().models == []  # fault used up (times=1)


def test_show_copy_delete(fake_ollama_factory) -> None:
    fake = fake_ollama_factory(installed=["llama3:8b"])
    c = ollama.Client(host=fake.url)
    show = c.show("llama3:8b")
    assert show.modelinfo["llama.block_count"] == 32 and show.capabilities == ["completion"]
    with pytest.raises(ollama.ResponseError) as ei:
        c.show("llama3-8b")
    assert ei.value.status_code == 404
    assert c.copy("llama3:8b", "llama3-8b").status == "success"
    assert {m.model for m in c.list().models} == {"llama3:8b", "llama3-8b:latest"}
    assert c.show("llama3-8b").details.family == "llama"
    assert c.delete("llama3:8b").status == "success"
    with pytest.raises(ollama.ResponseError):
        c.delete("llama3:8b")


def test_generate_timings_follow_profile(fake_ollama_factory) -> None:
    fake = fake_ollama_factory(installed=["llama3:8b"],
                               profiles={"llama3:8b": LatencyProfile(prefill_tps=1000, decode_tps=50, load_s=3)})
    c = ollama.Client(host=fake.url)
    r = c.generate(model="llama3:8b", prompt="x" * 4000, options={"num_predict": 100}, keep_alive=-1)
    assert r.prompt_eval_count == 1000 and r.prompt_eval_duration == 1_000_000_000
    assert r.eval_count == 100 and r.eval_duration == 2_000_000_000
    assert r.load_duration == 3_000_000_000 and r.done_reason == "length"
    assert fake.loaded_models() == {"llama3:8b": True}
    warm = c.generate(model="llama3:8b", prompt="hi", options={"num_predict": 4})
    assert warm.load_duration == 0  # already resident
    assert fake.loaded_models() == {"llama3:8b": False}  # default keep_alive replaced the pin


def test_stream_chat_and_keep_alive_unload(fake_ollama_factory) -> None:
    fake = fake_ollama_factory(installed=["llama3:8b"])
    c = ollama.Client(host=fake.url)
    parts = list(c.chat(model="llama3:8b", messages=[{"role": "user", "content": "hello"}],
                        options={"num_predict": 20}, stream=True, keep_alive="10m"))
    assert "".join(p.message.content for p in parts).split() and parts[-1].done
    assert parts[-1].eval_count == 20
    ps = c.ps().models
    assert ps[0].model == "llama3:8b" and ps[0].size > 4_661_224_676 and ps[0].context_length == 8192
    r = c.generate(model="llama3:8b", keep_alive=0)
    assert r.done_reason == "unload" and c.ps().models == []
    assert len(fake.unload_requests("llama3:8b")) == 1
    r = c.generate(model="llama3:8b", keep_alive=-1)
    assert r.done_reason == "load" and fake.loaded_models() == {"llama3:8b": True}
    with pytest.raises(ollama.ResponseError, match="not found"):
        c.generate(model="missing:1b", prompt="x")


def test_time_scale_and_hang_make_real_delays() -> None:
    m = FakeModel("tiny:1b", 1000, profile=LatencyProfile(prefill_tps=1e6, decode_tps=100, load_s=0))
    with FakeOllama(available=[m], installed=["tiny:1b"], time_scale=1.0) as fake:
        fake.hang("/api/version", 1.0)
        with pytest.raises(httpx.TimeoutException):
            httpx.get(fake.url + "/api/version", timeout=0.2)
        r = ollama.Client(host=fake.url, timeout=5).generate(model="tiny:1b", prompt="x", options={"num_predict": 20})
        assert r.eval_duration == 200_000_000


def test_the_test_fake_is_the_shipped_simulated_ollama() -> None:
    """Issue 13 §4: tests use the component the devnet demo runs, only with test defaults (no second fake)."""
    from tray_agent.devnet.sim_ollama import SimOllama

    assert FakeOllama.__bases__ == (SimOllama,)
    assert set(vars(FakeOllama)) - {"__module__", "__doc__", "__qualname__", "__init__", "server_class",
                                    "__static_attributes__", "__firstlineno__"} == set()  # defaults, no behaviour
