"""The devnet's simulated Ollama runs as its own process: dies with the agent (also kill -9), one per profile, same
port across relaunches. (The simulated Ollama is the product's own Ollama stand-in; no real Ollama runs here.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import urllib.request

import psutil

from tests.runtime.conftest import wait_for
from tests.runtime.test_consumer_process import ROOT, gone


def version(url: str) -> str:
    with urllib.request.urlopen(url + "/api/version", timeout=5) as r:
        return json.loads(r.read())["version"]


def holders(lock_path) -> list[int]:
    """Every live simulated-Ollama process started with this lock (the one-per-profile rule)."""
    out = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "tray_agent.devnet.sim_ollama_process" in cmd and str(lock_path) in cmd \
                and p.info["status"] != psutil.STATUS_ZOMBIE:
            out.append(p.info["pid"])
    return out


def fake_agent(tmp_path, port: int = 0) -> tuple[subprocess.Popen, int, str]:
    """A parent that starts the simulated Ollama from a thread that then ends (as the session does), and sleeps."""
    code = textwrap.dedent(f"""
        import threading, time
        from pathlib import Path
        from tray_agent.devnet.sim_ollama_process import SimOllamaProcess
        box = {{}}
        def go():
            box["s"] = SimOllamaProcess(Path({str(tmp_path / "sim-ollama.json")!r}),
                                        Path({str(tmp_path / "sim.log")!r}), Path({str(tmp_path / "locks")!r}),
                                        port={port}, time_scale=0)
        t = threading.Thread(target=go); t.start(); t.join()
        print(box["s"].pid, box["s"].url, flush=True)
        time.sleep(3600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": ROOT})
    line = parent.stdout.readline()  # type: ignore[union-attr]
    assert line.strip(), "the fake agent printed no simulated Ollama pid"
    pid, url = line.split()
    return parent, int(pid), url


def test_sim_ollama_child_dies_with_a_kill_9_of_the_agent_and_a_relaunch_keeps_one_on_the_same_port(tmp_path):
    from tray_agent.devnet.sim_ollama_process import SimOllamaProcess, lock_path_for

    lock = lock_path_for(tmp_path / "locks", tmp_path / "sim-ollama.json")
    parent, child, url = fake_agent(tmp_path)
    relaunched = None
    try:
        assert version(url)
        assert psutil.Process(child).ppid() == parent.pid and holders(lock) == [child]
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        wait_for(lambda: gone(child), 5, 0.1, "the simulated Ollama to die with its agent")
        port = int(url.rsplit(":", 1)[1])
        relaunched = SimOllamaProcess(tmp_path / "sim-ollama.json", tmp_path / "sim.log", tmp_path / "locks",
                                      port=port, time_scale=0)
        assert relaunched.url == url and version(url) and holders(lock) == [relaunched.pid]
    finally:
        if parent.poll() is None:
            parent.kill()
        if not gone(child):
            psutil.Process(child).kill()
        if relaunched is not None:
            relaunched.stop()
    assert gone(relaunched.pid) and holders(lock) == []


def test_a_relaunch_replaces_a_leftover_sim_ollama_of_the_same_profile(tmp_path):
    """The leftover of an agent that died but is not gone yet holds the port: it is stopped, never doubled."""
    from tray_agent.devnet.sim_ollama_process import SimOllamaProcess

    state, logf, locks = tmp_path / "sim-ollama.json", tmp_path / "sim.log", tmp_path / "locks"
    state.write_text(json.dumps({"installed": {"llama3:8b": "llama3:8b"}}))
    first = SimOllamaProcess(state, logf, locks, time_scale=0)
    second = other = None
    try:
        second = SimOllamaProcess(state, logf, locks, port=first.port, time_scale=0)
        assert second.replaced_pid == first.pid and not first.alive() and second.pid != first.pid
        assert second.url == first.url and holders(second.lock_path) == [second.pid]
        with urllib.request.urlopen(second.url + "/api/tags", timeout=5) as r:  # the persisted models survive
            assert [m["name"] for m in json.loads(r.read())["models"]] == ["llama3:8b"]
        # another profile (another state file) has its own lock and its own server
        other = SimOllamaProcess(tmp_path / "other.json", logf, locks, time_scale=0)
        assert other.lock_path != second.lock_path and other.alive() and second.alive()
        # started by hand with a held lock: refuses with exit 3, naming the running one
        out = subprocess.run([sys.executable, "-m", "tray_agent.devnet.sim_ollama_process", "--lock",
                              str(second.lock_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 3 and f"pid {second.pid}" in out.stderr
    finally:
        for s in (first, second, other):
            if s is not None:
                s.stop()
