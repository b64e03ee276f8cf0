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
        "ENCRYPTION_KEYSTORE_PATH": str(tmp_path / "encryption.key"),
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


def test_sigterm_exits_even_when_a_chain_call_blocks(sim_env, tmp_path):
    env, port, _ = sim_env
    fake_pkg = tmp_path / "fakepkg2" / "tray_agent" / "devnet"
    fake_pkg.mkdir(parents=True)
    started = tmp_path / "blocked.txt"
    (fake_pkg / "sim_chain.py").write_text(
        "import time\n"
        "class JobProcessor:\n"
        "    def __init__(self, *a, **kw):\n"
        "        pass\n"
        "    def validate_registration(self, pub):\n"
        "        return None\n"
        "    def poll(self, capacity):\n"
        f"        open({str(started)!r}, 'w').write('x')\n"
        "        time.sleep(3600)\n")
    code = ("import sys, tray_agent.devnet as d; d.__path__.insert(0, sys.argv[1]);"
            "from tray_agent.devnet import sim_worker; sys.exit(sim_worker.main())")
    p = subprocess.Popen([sys.executable, "-c", code, str(fake_pkg)],
                         env={**env, "RPC_URL": "http://127.0.0.1:1", "SIM_SHUTDOWN_GRACE": "1",
                              "SORTITION_POLL_INTERVAL": "100ms"},
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(started.exists, 30, 0.1, "a blocking step")
        p.send_signal(signal.SIGTERM)
        assert p.wait(20) == 1  # forced exit, like the worker's "shutdown timeout exceeded"
    finally:
        _, err = stop(p)
    assert "shutdown timeout exceeded" in err


# --- release-state identity (toolkit.md §5.5) -----------------------------------------------------------
def keystore_for(tmp_path, name: str) -> tuple[str, str]:
    from eth_account import Account

    from tray_agent.core.keys import keystore as ks

    acct = Account.create()
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps(ks.encrypt_keystore(bytes(acct.key), "pw-0123456789", 1024)))
    return str(f), acct.address


def run_briefly(env, port) -> tuple[int, str]:
    """Start, wait until healthy (or exit), SIGTERM; (exit code, stderr)."""
    p = start(env)
    try:
        wait_for(lambda: p.poll() is not None or metrics.fetch_metrics(f"http://127.0.0.1:{port}", 1)[0],
                 30, 0.1, "healthz or exit")
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        code = p.wait(15)
    finally:
        _, err = stop(p)
    return code, err


def test_release_state_names_its_identity_and_another_worker_is_fatal(sim_env):
    env, port, tmp = sim_env
    env = {**env, "JOB_REGISTRY_ADDRESS": "0x" + "ab" * 20}
    a_ks, a_addr = keystore_for(tmp, "a")
    code, err = run_briefly({**env, "WORKER_KEYSTORE_PATH": a_ks}, port)
    assert code == 0, err
    state = tmp / "release_state.json"
    doc = json.loads(state.read_text())
    assert doc["schema_version"] == 2 and doc["chain_id"] == 31337 and doc["pending"] == []
    assert doc["worker_address"].lower() == a_addr.lower() and doc["job_registry"] == "0x" + "ab" * 20
    assert oct(state.stat().st_mode)[-3:] == "600"
    # same worker again: fine
    assert run_briefly({**env, "WORKER_KEYSTORE_PATH": a_ks}, port)[0] == 0
    # another worker on the same state file: fatal, exit non-zero, file untouched
    b_ks, _ = keystore_for(tmp, "b")
    before = state.read_bytes()
    code, err = run_briefly({**env, "WORKER_KEYSTORE_PATH": b_ks}, port)
    assert code != 0 and "release store identity mismatch" in err
    assert "worker registration validated" not in err and state.read_bytes() == before
    # another network (chain id) or another job registry: fatal too
    code, err = run_briefly({**env, "WORKER_KEYSTORE_PATH": a_ks, "CHAIN_ID": "8200"}, port)
    assert code != 0 and "release store identity mismatch" in err
    code, err = run_briefly({**env, "WORKER_KEYSTORE_PATH": a_ks, "JOB_REGISTRY_ADDRESS": "0x" + "cd" * 20}, port)
    assert code != 0 and "release store identity mismatch" in err


def test_empty_release_state_is_fatal_only_missing_means_first_run(sim_env):
    env, port, tmp = sim_env
    state = tmp / "rs" / "release_state.json"
    state.parent.mkdir()
    state.write_bytes(b"")
    code, err = run_briefly({**env, "RELEASE_STATE_PATH": str(state)}, port)
    assert code != 0 and "release store snapshot is empty" in err
    assert state.read_bytes() == b""  # not silently re-created
    state.unlink()
    assert run_briefly({**env, "RELEASE_STATE_PATH": str(state)}, port)[0] == 0
    assert json.loads(state.read_text())["schema_version"] == 2


# --- metrics listener (toolkit.md §9.1) -----------------------------------------------------------------
def test_metrics_public_address_needs_the_opt_in(sim_env):
    env, port, _ = sim_env
    code, err = run_briefly({**env, "WORKER_METRICS_ADDR": f"0.0.0.0:{port}"}, port)
    assert code != 0 and "metrics: listen address must be loopback unless WORKER_METRICS_ALLOW_PUBLIC=true" in err
    code, err = run_briefly({**env, "WORKER_METRICS_ADDR": f":{port}"}, port)  # empty host = every interface
    assert code != 0 and "must be loopback" in err
    code, err = run_briefly({**env, "WORKER_METRICS_ADDR": f"0.0.0.0:{port}",
                             "WORKER_METRICS_ALLOW_PUBLIC": "true"}, port)
    assert code == 0, err


def test_metrics_bind_failure_is_logged_and_the_worker_keeps_running(sim_env):
    import socket

    env, port, _ = sim_env
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        p = start(env)
        try:
            time.sleep(2.5)
            assert p.poll() is None  # still running without its metrics listener
            p.send_signal(signal.SIGTERM)
            assert p.wait(15) == 0
        finally:
            _, err = stop(p)
    msgs = [json.loads(line)["msg"] for line in err.splitlines() if line.startswith("{")]
    assert "metrics endpoint failed (job processing continues)" in msgs
    assert "worker sidecar running (sortition mode) — waiting for shutdown signal" in msgs


def test_job_seconds_table():
    from tray_agent.devnet.sim_worker import duration, job_seconds

    assert job_seconds("", "x") == 3.0 and job_seconds("1.5", "x") == 1.5
    spec = "llama3-8b=2,gpt-oss:20b=6,*=4"
    assert job_seconds(spec, "gpt-oss:20b") == 6 and job_seconds(spec, "llama3-8b") == 2
    assert job_seconds(spec, "other") == 4
    assert duration("250ms", 1) == 0.25 and duration("4s", 1) == 4 and duration("", 7) == 7


def test_session_store_is_persisted_empty_and_another_password_is_fatal(sim_env):
    """toolkit.md §5.3: zeroed + persisted on shutdown; a store the password cannot open crash-loops the worker."""
    from eth_account import Account

    from tray_agent.core.keys import keystore as ks

    env, port, tmp = sim_env
    assert run_briefly(env, port)[0] == 0
    doc = json.loads((tmp / "session-keys.enc").read_text())
    assert doc["version"] == 1 and doc["salt"] and doc["data"]
    assert oct((tmp / "session-keys.enc").stat().st_mode)[-3:] == "600"
    assert run_briefly(env, port)[0] == 0  # the same password opens it again
    # the same worker key under a new password, session store left as it was: fatal
    key = Account.decrypt(json.loads(open(env["WORKER_KEYSTORE_PATH"]).read()), "pw-0123456789")
    ksf = tmp / "repw.json"
    ksf.write_text(json.dumps(ks.encrypt_keystore(bytes(key), "pw-another-one-42", 1024)))
    code, err = run_briefly({**env, "WORKER_KEYSTORE_PATH": str(ksf), "WORKER_KEYSTORE_PASSWORD": "pw-another-one-42"},
                            port)
    assert code != 0 and "open session key store" in err
