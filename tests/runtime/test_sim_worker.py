"""The simulated worker as a host process: startup lines, /healthz + /metrics, SIGTERM drain, faults."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.plugins.docker import free_port
from tests.runtime.conftest import wait_for
from tray_agent.core.runtime import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def sim_env(tmp_path):
    from eth_account import Account

    from tray_agent.core.keys import keystore as ks

    ksf = tmp_path / "keystore.json"
    ksf.write_text(json.dumps(ks.encrypt_keystore(bytes(Account.create().key), "pw-0123456789", 1024)))
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""), "PYTHONPATH": ROOT,
        "WORKER_KEYSTORE_PATH": str(ksf), "WORKER_KEYSTORE_PASSWORD": "pw-0123456789", "CHAIN_ID": "31337",
        "WORKER_REGISTRY_ADDRESS": "0x0000000000000000000000000000000000001002", "SUPPORTED_MODELS": "llama3-8b",
        "WORKER_METRICS_ADDR": f"127.0.0.1:{port}", "SESSION_KEY_FILE": str(tmp_path / "session-keys.enc"),
        "SORTITION_ENABLED": "true", "WORKER_GATEWAY_URL": "http://127.0.0.1:9",
        "SESSION_MANAGER_ADDRESS": "0x86AdA80864e87dE2275200FeE905b5C32b32Bf68",
        "OLLAMA_URL": "http://127.0.0.1:1", "SHUTDOWN_TIMEOUT": "5s",
    }
    return env, port, tmp_path


def start(env):
    return subprocess.Popen([sys.executable, "-m", "tray_agent.devnet.sim_worker"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(p):
    if p.poll() is None:
        p.kill()
    return p.communicate(timeout=10)


def test_healthy_startup_metrics_and_sigterm(sim_env):
    env, port, _ = sim_env
    p = start(env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: metrics.fetch_metrics(base, 1)[0], 30, 0.1, "healthz")
        ok, snap, _ = metrics.fetch_metrics(base)
        assert ok and snap.max_jobs == 2 and snap.active_jobs == 0
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    finally:
        _, err = stop(p)
    msgs = [json.loads(line)["msg"] for line in err.splitlines() if line.startswith("{")]
    for expected in ("worker registration validated - on-chain key matches local key",
                     "authenticated with worker-gateway", "gateway stream connected",
                     "worker sidecar running (sortition mode) — waiting for shutdown signal",
                     "shutdown signal received, draining", "worker stopped"):
        assert expected in msgs
    assert "pw-0123456789" not in err


def test_wrong_password_and_missing_config_exit_1(sim_env):
    env, _, _ = sim_env
    p = start({**env, "WORKER_KEYSTORE_PASSWORD": "wrong-password"})
    _, err = p.communicate(timeout=30)
    assert p.returncode == 1 and "failed to decrypt keystore" in err
    p = start({k: v for k, v in env.items() if k != "SUPPORTED_MODELS"})
    _, err = p.communicate(timeout=30)
    assert p.returncode == 1 and "config validation failed" in err and "SUPPORTED_MODELS is required" in err


def test_control_file_crash_and_disconnect(sim_env):
    env, port, tmp = sim_env
    p = start(env)
    try:
        wait_for(lambda: metrics.fetch_metrics(f"http://127.0.0.1:{port}", 1)[0], 30, 0.1, "healthz")
        (tmp / "sim-control").write_text("disconnect")
        time.sleep(1.2)
        (tmp / "sim-control").write_text("crash")
        assert p.wait(15) == 1
    finally:
        _, err = stop(p)
    sig = metrics.LogSignals().feed(err.splitlines())
    assert not sig.gateway_connected and "simulated crash" in sig.last_error


def test_sim_chain_driven_when_available(sim_env, monkeypatch, tmp_path):
    """With RPC_URL set, JobProcessor(rpc_url, chain_id, key, models).step() is called in the loop."""
    env, port, _ = sim_env
    fake_pkg = tmp_path / "fakepkg" / "tray_agent" / "devnet"
    # a stand-in sim_chain on a path searched before the repo; records its calls to a file
    fake_pkg.mkdir(parents=True)
    calls = tmp_path / "calls.txt"
    (fake_pkg / "sim_chain.py").write_text(
        "class JobProcessor:\n"
        "    active_jobs = 0\n"
        "    def __init__(self, rpc_url, chain_id, key, models):\n"
        f"        open({str(calls)!r}, 'a').write(f'init {{rpc_url}} {{chain_id}} {{len(key)}} {{models}}\\n')\n"
        "    def step(self):\n"
        f"        open({str(calls)!r}, 'a').write('step\\n')\n"
        "        return {'completed': 1, 'errors': 0}\n")
    code = ("import sys, tray_agent.devnet as d; d.__path__.insert(0, sys.argv[1]);"
            "from tray_agent.devnet import sim_worker; sys.exit(sim_worker.main())")
    p = subprocess.Popen([sys.executable, "-c", code, str(fake_pkg)], env={**env, "RPC_URL": "http://127.0.0.1:8545"},
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: calls.exists() and calls.read_text().count("step") >= 2, 30, 0.1, "steps")
        assert calls.read_text().startswith("init http://127.0.0.1:8545 31337 32 ['llama3-8b']")
        snap = metrics.fetch_metrics(f"http://127.0.0.1:{port}")[1]
        assert snap is not None and snap.jobs_ok >= 1
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    finally:
        stop(p)


def test_sigterm_exits_even_when_a_chain_step_blocks(sim_env, tmp_path):
    env, port, _ = sim_env
    fake_pkg = tmp_path / "fakepkg2" / "tray_agent" / "devnet"
    fake_pkg.mkdir(parents=True)
    started = tmp_path / "blocked.txt"
    (fake_pkg / "sim_chain.py").write_text(
        "import time\n"
        "class JobProcessor:\n"
        "    def __init__(self, *a):\n"
        "        pass\n"
        "    def step(self):\n"
        f"        open({str(started)!r}, 'w').write('x')\n"
        "        time.sleep(3600)\n")
    code = ("import sys, tray_agent.devnet as d; d.__path__.insert(0, sys.argv[1]);"
            "from tray_agent.devnet import sim_worker; sys.exit(sim_worker.main())")
    p = subprocess.Popen([sys.executable, "-c", code, str(fake_pkg)],
                         env={**env, "RPC_URL": "http://127.0.0.1:1", "SIM_SHUTDOWN_GRACE": "1"},
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(started.exists, 30, 0.1, "a blocking step")
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 1  # forced exit, like the worker's "shutdown timeout exceeded"
    finally:
        _, err = stop(p)
    assert "shutdown timeout exceeded" in err
