"""The simulated Ollama shipped for the devnet demo: start/stop, timings by model size and prompt length,
load/unload, pull progress over a size-scaled time, persistence, and the product's pull / pin / speed test."""

from __future__ import annotations

import json
import time
import urllib.request

from tray_agent.devnet.sim_ollama import SimOllama, start_sim_ollama


def post(url: str, path: str, body: dict, timeout: float = 60) -> list[dict]:
    req = urllib.request.Request(url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        text = r.read().decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def get(url: str, path: str) -> dict:
    with urllib.request.urlopen(url + path, timeout=10) as r:
        return json.loads(r.read())


def test_start_and_stop_the_shipped_service():
    url, stop = start_sim_ollama(time_scale=0)
    try:
        assert url.startswith("http://127.0.0.1:") and get(url, "/api/version")["version"]
        assert get(url, "/api/tags") == {"models": []}
    finally:
        stop()
    try:
        get(url, "/api/version")
        raise AssertionError("still answering after stop()")
    except OSError:
        pass


def test_timings_scale_with_model_size_and_prompt_length():
    sim = SimOllama(time_scale=0, installed=["llama3:8b", "gpt-oss:20b"]).start()
    try:
        def gen(model: str, prompt: str) -> dict:
            return post(sim.url, "/api/generate", {"model": model, "prompt": prompt, "stream": False,
                                                   "keep_alive": -1, "options": {"num_predict": 64}})[-1]

        small, big = gen("llama3:8b", "hello " * 50), gen("gpt-oss:20b", "hello " * 50)
        assert big["load_duration"] > small["load_duration"] > 0  # cold load reads a bigger file
        assert big["eval_duration"] > small["eval_duration"]  # more bytes per token
        assert small["eval_count"] == big["eval_count"] == 64
        warm_short, warm_long = gen("llama3:8b", "hello " * 50), gen("llama3:8b", "hello " * 2000)
        assert warm_short["load_duration"] == 0  # pinned: no reload
        assert warm_long["prompt_eval_count"] > warm_short["prompt_eval_count"]
        assert warm_long["prompt_eval_duration"] > warm_short["prompt_eval_duration"]
    finally:
        sim.stop()


def test_time_scale_makes_the_caller_wait():
    sim = SimOllama(time_scale=0.05, installed=["llama3:8b"]).start()
    try:
        t0 = time.monotonic()
        last = post(sim.url, "/api/generate", {"model": "llama3:8b", "prompt": "x" * 400, "stream": False,
                                               "options": {"num_predict": 64}})[-1]
        elapsed = time.monotonic() - t0
        assert elapsed >= 0.05 * last["total_duration"] / 1e9 * 0.9
    finally:
        sim.stop()


def test_load_pin_and_unload_show_in_ps():
    sim = SimOllama(time_scale=0, installed=["llama3:8b"]).start()
    try:
        post(sim.url, "/api/generate", {"model": "llama3:8b", "keep_alive": -1})
        ps = get(sim.url, "/api/ps")["models"]
        assert [m["name"] for m in ps] == ["llama3:8b"] and ps[0]["expires_at"].startswith("2318")
        out = post(sim.url, "/api/generate", {"model": "llama3:8b", "keep_alive": 0})
        assert out[-1]["done_reason"] == "unload" and get(sim.url, "/api/ps")["models"] == []
    finally:
        sim.stop()


def test_pull_progress_takes_longer_for_bigger_models(tmp_path):
    sim = SimOllama(time_scale=0, pull_bytes_per_s=1e9).start()
    try:
        small = post(sim.url, "/api/pull", {"model": "qwen3-embedding:0.6b"})
        big = post(sim.url, "/api/pull", {"model": "gpt-oss:20b"})
        for lines in (small, big):
            done = [x["completed"] for x in lines if "completed" in x]
            assert done == sorted(done) and done[-1] == lines[1]["total"] and lines[-1] == {"status": "success"}
        assert len(big) > len(small)
        assert sim.pull_plan(13_780_173_839)[1] > sim.pull_plan(639_150_592)[1]
        assert {m["name"] for m in get(sim.url, "/api/tags")["models"]} == {"qwen3-embedding:0.6b", "gpt-oss:20b"}
    finally:
        sim.stop()


def test_installed_models_persist_across_restarts(tmp_path):
    state = tmp_path / "sim-ollama.json"
    url, stop = start_sim_ollama(time_scale=0, state_file=state)
    try:
        post(url, "/api/pull", {"model": "llama3:8b"})
        req = urllib.request.Request(url + "/api/copy", json.dumps({"source": "llama3:8b",
                                                                     "destination": "llama3-8b"}).encode())
        urllib.request.urlopen(req, timeout=10).read()
    finally:
        stop()
    url, stop = start_sim_ollama(time_scale=0, state_file=state)
    try:
        names = {m["name"] for m in get(url, "/api/tags")["models"]}
        assert names == {"llama3:8b", "llama3-8b:latest"}
    finally:
        stop()


def test_product_pull_pin_and_speed_test_work_against_it():
    from tray_agent.core.runtime.ollama import OllamaManager
    from tray_agent.core.speedtest import run_speed_test

    url, stop = start_sim_ollama(time_scale=0)
    try:
        m = OllamaManager(url, allow_host_start=False)
        seen = []
        m.pull("llama3-8b", on_progress=seen.append)  # pulls llama3:8b, copies to the on-chain name
        assert seen and "llama3-8b" in {n.split(":")[0] for n in m.tags()}
        assert m.pin(["llama3-8b"]) == [] and "llama3-8b" in m.loaded()
        r = run_speed_test(url, ["llama3-8b"], active_jobs=lambda: 0, runs=1, unload_settle_s=0, deadline_s=120)
        assert r.verdict in ("comfortable", "tight") and r.models and r.models[0].decode_tps, r
    finally:
        stop()


def test_a_taken_port_falls_back_to_a_free_one():
    url, stop = start_sim_ollama(time_scale=0)
    port = int(url.rsplit(":", 1)[1])
    try:
        url2, stop2 = start_sim_ollama(port=port, time_scale=0)
        try:
            assert url2 != url and get(url2, "/api/version")["version"]
        finally:
            stop2()
    finally:
        stop()
    url3, stop3 = start_sim_ollama(port=port, time_scale=0)  # free again: the same port (stable OLLAMA_URL)
    try:
        assert url3 == url
    finally:
        stop3()
