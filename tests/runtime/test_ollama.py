"""Ollama through the official client against the fake server: pulls with progress, exact names, alias copy,
pinning verified via /api/ps, unload, the model-set invariant, and the managed container's settings."""

from __future__ import annotations

import pytest

from tray_agent.core.runtime.ollama import (
    OllamaError,
    OllamaManager,
    check_model_invariant,
    normalize,
    pull_alias,
)


def test_names():
    assert normalize("llama3-8b") == "llama3-8b:latest" and normalize("gpt-oss:20b") == "gpt-oss:20b"
    assert pull_alias("llama3-8b") == "llama3:8b" and pull_alias("gemma4:e2b") is None
    assert pull_alias("glm-4.7-flash") is None


def test_pull_with_progress_then_verify(fake_ollama):
    m = OllamaManager(fake_ollama.url, allow_host_start=False)
    assert m.ensure_running(start=False)
    with pytest.raises(OllamaError):
        m.verify_present(["gpt-oss:20b"])  # never advertise a model that is not there
    progress = []
    m.ensure_models(["gpt-oss:20b"], on_progress=lambda p: progress.append((p.completed, p.total)))
    assert progress and progress[-1][0] == progress[-1][1] > 0
    m.verify_present(["gpt-oss:20b"])
    assert "gpt-oss:20b" in m.tags()


def test_list_name_pulled_via_alias_and_copied(fake_ollama):
    m = OllamaManager(fake_ollama.url, allow_host_start=False)
    m.pull("llama3-8b")
    assert "llama3-8b:latest" in m.tags()  # the exact on-chain name exists now
    assert [r for r in fake_ollama.requests_to("/api/copy")]


def test_unknown_model_fails_clearly(fake_ollama):
    m = OllamaManager(fake_ollama.url, allow_host_start=False)
    with pytest.raises(OllamaError) as ei:
        m.ensure_models(["no-such-model:1b"])
    assert "no-such-model" in ei.value.message and ei.value.fix


def test_pin_and_unload(fake_ollama):
    fake_ollama.install("llama3:8b")
    fake_ollama.install("gpt-oss:20b")
    m = OllamaManager(fake_ollama.url, allow_host_start=False)
    assert m.pin(["llama3:8b", "gpt-oss:20b"]) == []
    assert {"llama3:8b", "gpt-oss:20b"} <= m.loaded()
    warm = [r.body for r in fake_ollama.requests_to("/api/generate")]
    assert all(b.get("keep_alive") == -1 for b in warm)
    m.unload(["gpt-oss:20b"])
    assert "gpt-oss:20b" not in m.loaded() and "llama3:8b" in m.loaded()
    m.unload()
    assert m.loaded() == set()


def test_model_invariant():
    assert check_model_invariant(["a"], ["a", "b:1"], ["a:latest", "b:1"]) == []
    problems = check_model_invariant(["a", "c"], ["a", "b:1"], ["a:latest"])
    assert len(problems) == 2
    assert any(p.startswith("c is registered on-chain") for p in problems)
    assert any(p.startswith("b:1 is in SUPPORTED_MODELS") for p in problems)


def test_unreachable_without_binary_or_docker():
    m = OllamaManager("http://127.0.0.1:1", allow_host_start=False)
    assert m.ensure_running(wait=0.5) is False and m.mode == ""


def test_managed_container_settings():
    m = OllamaManager("http://127.0.0.1:11500")
    kw = m.container_kwargs(gpu=True)
    assert kw["ports"] == {"11434/tcp": ("127.0.0.1", 11500)}  # loopback only
    assert kw["volumes"] == {"lcai-ollama-models": {"bind": "/root/.ollama", "mode": "rw"}}
    assert kw["device_requests"][0]["Capabilities"] == [["gpu"]]
    assert "device_requests" not in m.container_kwargs(gpu=False)
    assert m.url_for_worker(True) == "http://127.0.0.1:11500"
    assert m.url_for_worker(False) == "http://host.docker.internal:11500"


def test_host_ollama_started_when_installed_but_not_running(tmp_path):
    """An 'ollama' executable that serves the fake API on OLLAMA_HOST stands in for the real binary."""
    import os
    import stat
    import sys

    from tests.plugins.docker import free_port

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exe = tmp_path / "ollama"
    exe.write_text(
        f"#!{sys.executable}\n"
        "import os, sys, time\n"
        f"sys.path.insert(0, {root!r})\n"
        "assert sys.argv[1:] == ['serve']\n"
        "import tests.fakes.fake_ollama as fo\n"
        "host, port = os.environ['OLLAMA_HOST'].rsplit(':', 1)\n"
        "class Server(fo.ThreadingHTTPServer):\n"
        "    def __init__(self, addr, handler):\n"
        "        super().__init__((host, int(port)), handler)\n"
        "fo.ThreadingHTTPServer = Server\n"
        "fo.FakeOllama().start()\n"
        "time.sleep(3600)\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    m = OllamaManager(f"http://127.0.0.1:{free_port()}", serve_cmd=(str(exe), "serve"))
    try:
        assert not m.reachable()
        assert m.ensure_running(wait=30) is True and m.mode == "host"
        assert m.tags() == set()
    finally:
        m.stop_started()
    assert not m.reachable()
