"""One worker per machine (issue 12 §4), end to end on a real agent, anvil and the private dockerd:

* network switch: the old network's container is drained, stopped and removed before the new network starts (never
  two worker containers at once, never a leftover), the new network does not reuse the old metrics port, and
  switching back brings the worker online again;
* a worker another app started (toolkit name ``lightchain-worker``, its key folder mounted, ``CHAIN_ID`` env) is
  detected as foreign; ``stop_foreign`` waits for its running job (its metrics say 1) before stopping it, then ours
  starts; ``adopt_foreign`` imports its key files (password at the API, checked before anything stops) and runs our
  container with that worker's address.

The foreign container is the sim image running busybox ``httpd`` that serves ``/healthz`` and ``/metrics`` from a
host folder the test writes (``worker_active_jobs`` under the test's control): a real container on the real engine,
not a real worker — it needs no chain because only its stop and its key files matter here.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.harness import MODEL, PASSWORD, AgentProc, online_agent
from tests.plugins.docker import docker_client, free_port, sim_image  # noqa: F401  (fixtures)
from tests.polling import wait_for
from tray_agent.core.runtime.worker_container import KEY_DIR_IN, STATE_DIR_IN

PROFILE = "handover"
OURS = f"lightchain-worker-devnet-{PROFILE}"
FOREIGN = "lightchain-worker"
pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def agent(tmp_path_factory, docker_ready, docker_client, sim_image):  # noqa: F811
    try:
        with online_agent(tmp_path_factory.mktemp("handover-home"), PROFILE) as a:
            yield a
    finally:
        for c in docker_client.containers.list(all=True):
            if c.name == FOREIGN:
                c.remove(force=True)


def _workers(client) -> dict[str, str]:
    """name -> status of every worker container on the engine (ours of any network, and foreign ones)."""
    return {c.name: c.status for c in client.containers.list(all=True) if c.name.startswith("lightchain-worker")}


class Sampler(threading.Thread):
    """docker ps -a every 50 ms while an operation runs."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client, self.samples, self.done = client, [], threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.samples.append(_workers(self.client))
            except Exception:  # a container removed between list and inspect
                pass
            time.sleep(0.05)

    def stop(self) -> list[dict[str, str]]:
        self.done.set()
        self.join(10)
        return self.samples


def _metrics_port(agent: AgentProc, network: str) -> int:
    f = agent.data / "networks" / network / "worker.json"
    return int(json.loads(f.read_text()).get("metrics_port") or 0) if f.exists() else 0


def _sim_control(client, word: str) -> None:
    """The sim worker's fault switch in its state dir: ``busy`` = one in-flight job in its metrics."""
    ours = client.containers.get(OURS)
    state = next(m["Source"] for m in ours.attrs["Mounts"] if m["Destination"] == STATE_DIR_IN)
    (Path(state) / "sim-control").write_text(word)


def _jobs(port: int) -> int | None:
    from tray_agent.core.runtime.metrics import fetch_metrics

    _ok, snap, _err = fetch_metrics(f"http://127.0.0.1:{port}")
    return snap.active_jobs if snap else None


def test_network_switch_drains_stops_and_removes_the_old_worker(agent, docker_client):  # noqa: F811
    assert _workers(docker_client) == {OURS: "running"}
    devnet_port = _metrics_port(agent, "devnet")
    assert devnet_port
    _sim_control(docker_client, "busy")  # a job runs: the switch must wait for it
    wait_for(lambda: _jobs(devnet_port) == 1, timeout=30, what="the worker's metrics to show the running job")
    sampler = Sampler(docker_client)
    sampler.start()
    r = agent.post("/api/ops/switch_network", {"network": "testnet"})
    assert r.status == 202, r.body
    wait_for(lambda: any("waiting for" in p["message"] for p in agent.get(f"/api/ops/{r.body['op_id']}").body["progress"]), timeout=60,
             what="the switch waiting for the running job")
    time.sleep(2)
    assert _workers(docker_client) == {OURS: "running"}, "stopped while a job was running"
    _sim_control(docker_client, "ok")
    rec = agent.wait_op(r.body["op_id"], timeout=300)
    samples = sampler.stop()
    assert rec["state"] == "done", rec
    # never two worker containers running at once, and the old one ends stopped (drained) then removed
    assert max(sum(s == "running" for s in sample.values()) for sample in samples) <= 1, samples
    assert OURS not in _workers(docker_client), "the old network's container was left behind"
    assert _workers(docker_client) == {}  # testnet has no key here: no container at all, nothing unwatched
    # the testnet worker never takes the devnet worker's metrics port
    assert _metrics_port(agent, "testnet") != devnet_port
    assert agent.status()["network"] == "testnet"

    rec = agent.op("switch_network", {"network": "devnet"}, timeout=300)
    assert rec["state"] == "done", rec
    agent.wait_state("online", timeout=180)  # the switch's stop was no user pause: the worker runs again
    assert set(_workers(docker_client)) == {OURS}


def _serve_metrics(folder: Path, jobs: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "healthz").write_text("ok")
    (folder / "metrics").write_text(f"# TYPE worker_active_jobs gauge\nworker_active_jobs {jobs}\n")


def _run_foreign(client, image: str, www: Path, port: int, key_dir: Path | None = None):
    from tray_agent.core.networks import load_networks

    env = {"CHAIN_ID": str(load_networks()["devnet"].chain_id), "WORKER_METRICS_ADDR": f"127.0.0.1:{port}"}
    volumes = {str(www): {"bind": "/www", "mode": "ro"}}
    if key_dir is not None:
        volumes[str(key_dir)] = {"bind": "/etc/lightchain/worker", "mode": "ro"}
        env["WORKER_KEYSTORE_PATH"] = "/etc/lightchain/worker/keystore.json"
        env["ENCRYPTION_KEYSTORE_PATH"] = "/etc/lightchain/worker/encryption.key"
    return client.containers.run(image, name=FOREIGN, detach=True, network_mode="host", environment=env,
                                 volumes=volumes, entrypoint=[  # SIGTERM ends it, as it ends a worker
                                     "/bin/sh", "-c", f"trap 'exit 0' TERM; /bin/busybox httpd -f -p 127.0.0.1:{port} "
                                     "-h /www & wait"])


def _foreign_notice(agent: AgentProc) -> bool:
    return any(n["kind"] == "foreign_worker" for n in agent.status().get("notices") or [])


def test_stop_foreign_waits_for_its_job_then_ours_starts(agent, docker_client, sim_image, tmp_path):  # noqa: F811
    www = tmp_path / "www"
    _serve_metrics(www, 1)
    other = _run_foreign(docker_client, sim_image, www, free_port())
    try:
        wait_for(lambda: _foreign_notice(agent), timeout=90, what="the foreign worker notice")
        r = agent.post("/api/ops/stop_foreign", {"confirm": True})
        assert r.status == 202, r.body
        time.sleep(4)
        other.reload()
        assert other.status == "running", "stopped while its metrics said a job was running"
        op = agent.get(f"/api/ops/{r.body['op_id']}").body
        assert any("waiting for 1 running job" in p["message"] for p in op["progress"]), op
        _serve_metrics(www, 0)
        rec = agent.wait_op(r.body["op_id"], timeout=120)
        assert rec["state"] == "done", rec
        assert rec["result"]["stopped"] == [FOREIGN] and rec["result"]["drained"][0]["idle"] is True
        other.reload()
        assert other.status == "exited"
        agent.wait_state("online", timeout=120)
        assert not _foreign_notice(agent)
        assert _workers(docker_client) == {OURS: "running", FOREIGN: "exited"}
    finally:
        other.remove(force=True)


def test_adopt_foreign_runs_its_key_here(agent, docker_client, sim_image, tmp_path):  # noqa: F811
    c = agent.client
    adopted = agent.status()["address"]
    export = tmp_path / "toolkit-worker"
    c.post("/api/keys/export", {"dest": str(export), "include_password": False})
    assert (export / "keystore.json").is_file() and (export / "encryption.key").is_file()
    # this app moves to a new key (the exported one is archived, still staked): the foreign worker runs the old one
    rec = agent.op("replace_key", {"confirm": True}, timeout=240)
    assert rec["state"] == "done", rec
    assert agent.status()["address"] != adopted
    www = tmp_path / "www"
    _serve_metrics(www, 0)
    other = _run_foreign(docker_client, sim_image, www, free_port(), key_dir=export)
    try:
        wait_for(lambda: _foreign_notice(agent), timeout=90, what="the foreign worker notice")
        agent.extra_env["LCAI_IMPORT_PASSWORD"] = "wrong-password-1"  # the CLI reads it here or at a prompt
        try:
            r = agent.cli("worker", "adopt", "--replace", "--yes", timeout=180)
        finally:
            agent.extra_env.pop("LCAI_IMPORT_PASSWORD")
        assert r.returncode != 0 and "password does not open" in r.stdout + r.stderr, (r.stdout, r.stderr)
        assert "wrong-password-1" not in r.stdout + r.stderr + agent.tail(400_000)
        other.reload()
        assert other.status == "running"  # a wrong password stops nothing
        assert agent.status()["address"] != adopted
        rec = agent.op("adopt_foreign", {"confirm": True, "password": PASSWORD, "replace_active": True},
                       timeout=240)
        assert rec["state"] == "done", rec
        assert rec["result"]["address"] == adopted and rec["result"]["adopted"] == FOREIGN
        assert rec["result"]["drained"] == [{"name": FOREIGN, "idle": True, "running_jobs": 0}]
        other.reload()
        assert other.status == "exited"
        agent.wait_state("online", timeout=180)
        assert agent.status()["address"] == adopted
        ours = docker_client.containers.get(OURS)
        keys = next(m["Source"] for m in ours.attrs["Mounts"] if m["Destination"] == KEY_DIR_IN)
        ks = json.loads((Path(keys) / "keystore.json").read_text())
        assert "0x" + ks["address"].lower().removeprefix("0x") == adopted.lower()
        env = dict(e.split("=", 1) for e in ours.attrs["Config"]["Env"])
        assert MODEL in env["SUPPORTED_MODELS"]
    finally:
        other.remove(force=True)
