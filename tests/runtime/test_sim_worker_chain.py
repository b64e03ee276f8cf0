"""The strict simulated worker against the anvil replica: in-flight jobs, SIGTERM cancellation (toolkit.md §11),
sortition cursors and replay after a restart (§5.6, §7), and worker_active_jobs as the truth (§9.1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from eth_utils import keccak

from tests.plugins.docker import free_port
from tests.runtime.conftest import wait_for
from tray_agent.core.runtime import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PW = "pw-0123456789"


@pytest.fixture
def worker(chain, tmp_path):
    """A registered worker and a function that starts the sim worker for it (one process at a time)."""
    from tray_agent.core.keys import keystore as ks

    w = chain.new_worker()
    ecdh, pub = ks.create_ecdh_file(PW)
    w.ecdh = pub  # registered with the key in encryption.key, as the agent does
    chain.register(w)
    ksf = tmp_path / "keystore.json"
    ksf.write_text(json.dumps(ks.encrypt_keystore(w.key, PW, 1024)))
    (tmp_path / "encryption.key").write_text(json.dumps(ecdh))
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""), "PYTHONPATH": ROOT, "RPC_URL": chain.dn.rpc_url, "CHAIN_ID": "31337",
        "WORKER_KEYSTORE_PATH": str(ksf), "WORKER_KEYSTORE_PASSWORD": PW,
        "ENCRYPTION_KEYSTORE_PATH": str(tmp_path / "encryption.key"),
        "WORKER_REGISTRY_ADDRESS": chain.dn.addresses["WorkerRegistry"],
        "JOB_REGISTRY_ADDRESS": chain.dn.addresses["JobRegistry"], "AI_CONFIG_ADDRESS": chain.dn.addresses["AIConfig"],
        "SUPPORTED_MODELS": "llama3-8b", "WORKER_METRICS_ADDR": f"127.0.0.1:{port}",
        "SESSION_KEY_FILE": str(tmp_path / "state" / "session-keys.enc"), "SORTITION_POLL_INTERVAL": "200ms",
        "OLLAMA_URL": "http://127.0.0.1:1", "SIM_RELEASE": "false", "SIM_JOB_SECONDS": "30",
    }
    procs: list[subprocess.Popen] = []

    def start(expect_exit: bool = False, **extra: str) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, "-m", "tray_agent.devnet.sim_worker"], env={**env, **extra}, cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(p)
        if expect_exit:
            p.wait(60)
            return p
        wait_for(lambda: p.poll() is not None or metrics.fetch_metrics(f"http://127.0.0.1:{port}", 1)[0], 60, 0.1,
                 "sim worker healthz")
        assert p.poll() is None, p.stderr.read()  # type: ignore[union-attr]
        return p

    def snap():
        return metrics.fetch_metrics(f"http://127.0.0.1:{port}", 2)[1]

    yield w, start, snap, tmp_path / "state"
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=10)


def stop(p: subprocess.Popen) -> tuple[int, str]:
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=20)
    return p.returncode, err


def test_sigterm_cancels_the_in_flight_job_and_it_becomes_an_offence(chain, worker):
    w, start, snap, state = worker
    p = start()
    jid = chain.create_job(w)
    # the job is in flight: acknowledged on chain and counted by worker_active_jobs (§9.1)
    wait_for(lambda: chain.job(jid)["state"] == 1, 30, 0.1, "ack")
    assert wait_for(lambda: snap().active_jobs == 1, 10, 0.1, "active 1")
    code, err = stop(p)
    assert code == 0
    assert "job canceled by shutdown" in err, err
    assert "shutdown: cancelling in-flight jobs" in err
    assert chain.job(jid)["state"] == 1  # cancelled, not completed (§11)
    # a restart resumes after its cursor: the cancelled job is not served again (it will time out)
    p = start(SIM_JOB_SECONDS="0.2")
    cursor = int((state / "sortition-state" / "cursor-job_submitted.txt").read_text())
    assert cursor >= int(chain.client.get_job(jid)["submitBlockNumber"])
    later = chain.create_job(w)
    wait_for(lambda: chain.job(later)["state"] == 2, 30, 0.1, "later job completed")
    assert chain.job(jid)["state"] == 1
    stop(p)
    # past its deadline anyone can claim the timeout: the cancelled job counts as an offence
    chain.advance(121)
    chain.consumer.send(chain.jr.address, chain.jr.encode("claimTimeout", jid))
    assert chain.job(jid)["state"] == 3
    assert chain.view(chain.reg, "getOffenseCount", w.address) == 1


def test_jobs_submitted_while_down_are_served_after_restart_unless_expired(chain, worker):
    w, start, snap, state = worker
    stop(start())  # first run: cursors written
    assert (state / "sortition-state" / "cursor-job_submitted.txt").exists()
    expired = chain.create_job(w)  # claimed session keeps receiving jobs while the worker is down
    chain.advance(91)  # past its ack deadline (ackTimeout 90 s)
    fresh = [chain.create_job(w), chain.create_job(w)]
    p = start(SIM_JOB_SECONDS="0.3")
    for jid in fresh:
        wait_for(lambda j=jid: chain.job(j)["state"] == 2, 30, 0.1, f"job {jid} completed")
    assert chain.job(expired)["state"] == 0  # stage 0: past its deadline, no gas spent on it
    wait_for(lambda: snap().active_jobs == 0 and snap().jobs_ok == 2, 10, 0.1, "idle after 2 jobs")
    doc = json.loads((state / "release_state.json").read_text())
    assert sorted(x["job_id"] for x in doc["pending"]) == sorted(fresh)  # §10: pending release
    assert stop(p)[0] == 0


def test_capacity_and_active_jobs_gauge(chain, worker):
    w, start, snap, _ = worker
    p = start(SIM_JOB_SECONDS="3", MAX_CONCURRENT_JOBS="2")
    ids = [chain.create_job(w) for _ in range(3)]
    wait_for(lambda: sum(chain.job(j)["state"] == 1 for j in ids) == 2, 20, 0.05, "two acked")
    s = snap()
    assert s.active_jobs == 2 and s.max_jobs == 2
    assert chain.job(ids[2])["state"] == 0  # at capacity: the third waits (§7 stops claiming at MAX_CONCURRENT_JOBS)
    for jid in ids:
        wait_for(lambda j=jid: chain.job(j)["state"] == 2, 30, 0.1, f"job {jid}")
    wait_for(lambda: snap().active_jobs == 0, 10, 0.1, "idle")
    assert stop(p)[0] == 0


def test_a_model_missing_from_supported_models_fails_at_stage_5(chain, worker):
    w, start, snap, _ = worker
    chain.as_worker(w, chain.reg, "addSupportedModel", keccak(text="gpt-oss:20b"))
    p = start(SIM_JOB_SECONDS="0.2")
    jid = chain.create_job(w, "gpt-oss:20b")
    wait_for(lambda: snap().jobs_error == 1, 30, 0.1, "stage 5 error")
    assert chain.job(jid)["state"] == 1  # acked, never completed: it will time out (§7 offence causes)
    _, err = stop(p)
    assert "stage 5 (resolve model)" in err


def test_refuses_to_start_unregistered_or_with_another_encryption_key(chain, worker, tmp_path):
    """toolkit.md §1, §4: fatal startup errors, the container exits (a crash loop the agent must diagnose)."""
    from tray_agent.core.keys import keystore as ks

    w, start, _snap, _ = worker
    other = chain.new_worker()
    ksf = tmp_path / "other-keystore.json"
    ksf.write_text(json.dumps(ks.encrypt_keystore(other.key, PW, 1024)))
    p = start(expect_exit=True, WORKER_KEYSTORE_PATH=str(ksf), RELEASE_STATE_PATH=str(tmp_path / "other-rs.json"))
    err = p.stderr.read()  # type: ignore[union-attr]
    assert p.returncode == 1 and f"worker {other.address} is not registered on-chain" in err
    assert "worker registration validated" not in err
    # the registered worker with a different encryption.key: refused too
    (tmp_path / "encryption.key").write_text(json.dumps(ks.create_ecdh_file(PW)[0]))
    p = start(expect_exit=True)
    err = p.stderr.read()  # type: ignore[union-attr]
    assert p.returncode == 1 and "local ECDH public key does not match on-chain key" in err
    # a missing encryption.key is generated (LoadOrGenerate, §5.2) — and then does not match either
    (tmp_path / "encryption.key").unlink()
    p = start(expect_exit=True)
    assert p.returncode == 1 and "does not match on-chain key" in p.stderr.read()  # type: ignore[union-attr]
    assert (tmp_path / "encryption.key").exists()
    (tmp_path / "encryption.key").write_text(json.dumps(ks.create_ecdh_file("another-password")[0]))
    p = start(expect_exit=True)
    assert p.returncode == 1 and "load ECDH keystore" in p.stderr.read()  # type: ignore[union-attr]


def test_inference_through_the_simulated_ollama(chain, worker):
    """SIM_INFERENCE=ollama: jobs call /api/generate (§8: keep_alive, temperature 0, seed 42); a model Ollama
    does not have fails the job (ollama error), which then times out like on the real worker."""
    from tray_agent.devnet.ollama_models import OllamaModel
    from tray_agent.devnet.sim_ollama import SimOllama

    w, start, snap, _ = worker
    sim = SimOllama(time_scale=0.02).start()
    try:
        p = start(SIM_INFERENCE="ollama", OLLAMA_URL=sim.url)
        missing = chain.create_job(w)
        wait_for(lambda: snap().jobs_error == 1, 30, 0.1, "job failed: model not in Ollama")
        assert chain.job(missing)["state"] == 1
        sim.install(OllamaModel("llama3-8b", 4_661_224_676))
        jid = chain.create_job(w)
        wait_for(lambda: chain.job(jid)["state"] == 2, 30, 0.1, "job served through Ollama")
        body = sim.requests_to("/api/generate")[-1].body
        assert body["model"] == "llama3-8b" and body["keep_alive"] == -1
        assert body["options"]["temperature"] == 0 and body["options"]["seed"] == 42
        assert sim.loaded_models() == {"llama3-8b:latest": True}  # pinned by the worker's keep_alive -1
        _, err = stop(p)
        assert "ollama generate request" in err
    finally:
        sim.stop()
