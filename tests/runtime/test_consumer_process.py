"""The devnet consumer: dies with the agent (also kill -9), one per chain, demand for every served model."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import psutil

from tests.runtime.conftest import wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def fake_agent(rpc: str, tmp_path, *, from_thread: bool) -> tuple[subprocess.Popen, int]:
    """A parent process that launches the consumer (optionally from a thread that then ends) and sleeps."""
    code = textwrap.dedent(f"""
        import sys, threading, time
        from pathlib import Path
        from tray_agent.devnet.consumer_process import ConsumerProcess
        box = {{}}
        def go():
            box["c"] = ConsumerProcess({rpc!r}, 31337, 1.0, Path({str(tmp_path / "consumer.log")!r}),
                                       lock_dir=Path({str(tmp_path / "locks")!r}))
        if {from_thread!r}:
            t = threading.Thread(target=go); t.start(); t.join()
        else:
            go()
        print(box["c"].pid, flush=True)
        time.sleep(3600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": ROOT})
    line = parent.stdout.readline()  # type: ignore[union-attr]
    assert line.strip(), "the fake agent printed no consumer pid"
    return parent, int(line)


def test_consumer_dies_with_a_kill_9_of_the_agent(devnet, tmp_path):
    parent, child = fake_agent(devnet.rpc_url, tmp_path, from_thread=True)
    try:
        # started from a thread that has ended: the consumer must still live while the agent lives
        time.sleep(2)
        assert not gone(child), (tmp_path / "consumer.log").read_text()
        assert "tray_agent.devnet.consumer" in " ".join(psutil.Process(child).cmdline())
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        wait_for(lambda: gone(child), 5, 0.1, "the consumer to die with its agent")
    finally:
        if parent.poll() is None:
            parent.kill()
        if not gone(child):
            psutil.Process(child).kill()


def test_parent_watch_without_the_death_signal(tmp_path):
    """Elsewhere than Linux only the parent-watch thread exists: it alone must end the child."""
    code = textwrap.dedent("""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
            "import os, time; from tray_agent.devnet.lifeline import watch_parent; "
            "watch_parent(os.getppid(), 0.2); time.sleep(3600)"])
        print(child.pid, flush=True)
        time.sleep(3600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": ROOT})
    child = int(parent.stdout.readline())  # type: ignore[union-attr]
    try:
        time.sleep(1)
        assert not gone(child)
        parent.kill()
        parent.wait(10)
        wait_for(lambda: gone(child), 5, 0.1, "the orphan to exit")
    finally:
        if not gone(child):
            psutil.Process(child).kill()


def test_a_second_launch_on_the_same_chain_reuses_the_running_consumer(devnet, tmp_path):
    from tray_agent.devnet.consumer_process import ConsumerProcess

    locks = tmp_path / "locks"
    first = ConsumerProcess(devnet.rpc_url, devnet.chain_id, 1.0, tmp_path / "c1.log", lock_dir=locks)
    try:
        wait_for(lambda: first.lock_path.exists() and first.lock_path.read_text().strip() == str(first.pid), 30,
                 0.1, "the consumer to take the chain lock")
        second = ConsumerProcess(devnet.rpc_url, devnet.chain_id, 1.0, tmp_path / "c2.log", lock_dir=locks)
        assert second.proc is None and second.reused_pid == first.pid and second.alive()
        # started by hand on the same chain: refuses with exit 3, naming the running one
        out = subprocess.run([sys.executable, "-m", "tray_agent.devnet.consumer", "--rpc", devnet.rpc_url,
                              "--lock", str(first.lock_path), "--duration", "1"], cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 3 and f"pid {first.pid}" in out.stderr
        # another chain (another RPC endpoint) has its own lock
        other = ConsumerProcess("http://127.0.0.1:1", devnet.chain_id, 1.0, tmp_path / "c3.log", lock_dir=locks)
        assert other.proc is not None and other.lock_path != first.lock_path
        other.stop()
    finally:
        first.stop()
    assert gone(first.pid)
    third = ConsumerProcess(devnet.rpc_url, devnet.chain_id, 1.0, tmp_path / "c4.log", lock_dir=locks)
    try:
        assert third.proc is not None and third.reused_pid is None
    finally:
        third.stop()


def test_demand_covers_every_served_model_with_weights_and_claimed_sessions(chain):
    from tray_agent.devnet.consumer import DEFAULT_DEMAND, Consumer, parse_models

    random.seed(12)
    served = ["llama3-8b", "gpt-oss:20b", "qwen3-vl:8b"]
    w = chain.new_worker()
    chain.register(w, served)
    c = Consumer(chain.dn.rpc_url, 31337)  # no model list: every devnet model, weighted
    assert set(c.weights) == set(DEFAULT_DEMAND) and len(set(c.weights.values())) > 1
    for _ in range(40):
        assert c.submit_one() is not None
    assert set(c.by_model) == set(served)  # every served model gets jobs; nobody serves the others
    sessions = [s for pool in c.sessions.values() for s in pool]
    assert any(jobs > 1 for _, jobs in sessions)  # follow-up jobs on claimed sessions
    assert parse_models(["llama3-8b=3", "gpt-oss:20b"]) == {"llama3-8b": 3.0, "gpt-oss:20b": 1.0}
    only = Consumer(chain.dn.rpc_url, 31337, None, {"qwen3-vl:8b": 1.0})
    assert only.submit_one() is not None and set(only.by_model) == {"qwen3-vl:8b"}
