"""The keep-online supervisor against a real dockerd and the simulated worker image.

Recovery goals are not asserted as times (a benchmark measures them); the measured times are printed.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import tempfile
import threading
import time

import docker
import pytest

from tests.conftest import need
from tests.plugins.docker import PrivateDockerd, free_port, remove_by_label
from tests.runtime.conftest import wait_for
from tray_agent.common.status import Alert, Status, WorkerState
from tray_agent.core.runtime import docker_engine, images
from tray_agent.core.runtime import worker_container as wc
from tray_agent.core.runtime.keepawake import KeepAwake
from tray_agent.core.runtime.supervisor import Supervisor, SupervisorConfig

pytestmark = pytest.mark.docker


class Recorder:
    """on_update subscriber: merges fields like the agent does and keeps the state history."""

    def __init__(self):
        self.fields: dict = {}
        self.states: list[tuple[float, WorkerState, str]] = []
        self.lock = threading.Lock()

    def __call__(self, fields: dict) -> None:
        Status().evolve(**fields)  # every key must be a Status field
        with self.lock:
            self.fields.update(fields)
            if "state" in fields:
                self.states.append((time.monotonic(), fields["state"], fields.get("message", "")))

    @property
    def state(self) -> WorkerState | None:
        return self.fields.get("state")

    def saw(self, state: WorkerState) -> bool:
        with self.lock:
            return any(s is state for _, s, _ in self.states)


def fast_config(**kw) -> SupervisorConfig:
    base = dict(interval=2.0, fast_interval=0.2, startup_grace=20.0, stale_after=3.0, stale_restart_timeout=5,
                crash_window=30.0, crash_threshold=3, backoff_base=2.0, backoff_max=4.0, engine_autostart=False,
                health_timeout=1.0)
    base.update(kw)
    return SupervisorConfig(**base)


def make_spec(worker_env, **kw) -> wc.WorkerSpec:
    paths, net, pw = worker_env
    network = kw.pop("network", net)
    models = kw.pop("models", ["llama3-8b"])
    return wc.WorkerSpec.build(paths, network, models, pw, metrics_port=kw.pop("metrics_port", free_port()), **kw)


@pytest.fixture
def supervise(docker_client, sim_image):
    """Factory: start a Supervisor (stopped at teardown) → (supervisor, recorder)."""
    started: list[Supervisor] = []

    def make(paths, spec_provider, config=None, **kw):
        rec = Recorder()
        kw.setdefault("keep_awake", KeepAwake(enabled=False))
        sup = Supervisor(paths, spec_provider, rec, config=config or fast_config(), **kw).start()
        started.append(sup)
        return sup, rec

    yield make
    for s in started:
        s.stop()


def container(client, spec):
    c = client.containers.get(spec.name)
    c.reload()
    return c


def control(spec: wc.WorkerSpec, word: str | None) -> None:
    f = spec.state_dir / "sim-control"
    if word is None:
        f.unlink(missing_ok=True)
    else:
        spec.prepare_dirs()
        f.write_text(word)


def test_setup_needed_without_spec(paths, supervise):
    _sup, rec = supervise(paths, lambda: None)
    wait_for(lambda: rec.state is WorkerState.SETUP_NEEDED, 10, what="setup_needed")
    assert rec.fields["container_running"] is False


def test_spec_error_is_reported(paths, supervise):
    from tray_agent.common.errors import KeyMismatchError

    def locked():
        raise KeyMismatchError("the keychain has no password for the worker key", fix="unlock the keychain")

    _sup, rec = supervise(paths, locked)
    wait_for(lambda: rec.state is WorkerState.ERROR, 10, what="error state")
    assert rec.fields["fix"] == "unlock the keychain"


def test_kill_container_restarted_and_online(worker_env, supervise, docker_client):
    spec = make_spec(worker_env)
    sup, rec = supervise(worker_env[0], lambda: spec, config=fast_config(crash_threshold=10))
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="first online")
    assert rec.fields["container"] == spec.name and rec.fields["container_running"]
    c = container(docker_client, spec)
    assert c.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert c.attrs["Config"]["StopTimeout"] == 300
    times = []
    for _ in range(3):
        c = container(docker_client, spec)
        old_start = c.attrs["State"]["StartedAt"]
        t0 = time.monotonic()
        os.kill(c.attrs["State"]["Pid"], signal.SIGKILL)
        wait_for(lambda old=old_start: container(docker_client, spec).attrs["State"]["StartedAt"] != old, 30,
                 what="container restarted")
        wait_for(lambda old=old_start: rec.state is WorkerState.ONLINE and sup._run_key
                 and sup._run_key[1] != old, 60, what="online after kill")
        times.append(time.monotonic() - t0)
    print(f"\nMEASURED kill -> online: {', '.join(f'{t:.2f} s' for t in times)} (goal <= 5 s)")
    assert sup.active_jobs() == 0
    assert not rec.saw(WorkerState.ERROR) and Alert.CRASH_LOOP not in rec.fields.get("alerts", ())


def test_missing_container_recreated(worker_env, supervise, docker_client):
    spec = make_spec(worker_env)
    _sup, rec = supervise(worker_env[0], lambda: spec)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    old = container(docker_client, spec).id
    container(docker_client, spec).remove(force=True)
    wait_for(lambda: (c := wc.find(docker_client, spec.name)) is not None and c.id != old, 30, what="recreated")
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online again")


def test_stale_worker_restarted(worker_env, supervise, docker_client):
    paths, net, _ = worker_env
    # a gateway profile like testnet: the sim logs the gateway lines and can be told to disconnect
    gw_net = net.replace(gateway_url="http://127.0.0.1:9")
    spec = make_spec(worker_env, network=gw_net)
    assert spec.expects_gateway
    sup, rec = supervise(paths, lambda: spec)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    assert rec.fields["gateway_connected"] is True
    restarts = sup.restarts
    control(spec, "disconnect")
    wait_for(lambda: rec.state is WorkerState.STALE, 30, what="stale")
    wait_for(lambda: sup.restarts > restarts, 30, what="stale worker restarted")
    control(spec, None)
    wait_for(lambda: rec.state is WorkerState.ONLINE and rec.fields["gateway_connected"], 60, what="online again")


def test_hung_worker_is_stale_then_restarted(worker_env, supervise, docker_client):
    spec = make_spec(worker_env)
    sup, rec = supervise(worker_env[0], lambda: spec)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    restarts = sup.restarts
    control(spec, "hang")
    wait_for(lambda: sup.restarts > restarts, 40, what="hung worker restarted")
    assert rec.saw(WorkerState.STALE)
    control(spec, None)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online again")


def test_crash_loop_backs_off_and_alerts(worker_env, supervise, docker_client):
    spec = make_spec(worker_env)
    control(spec, "crash")
    _sup, rec = supervise(worker_env[0], lambda: spec)
    wait_for(lambda: Alert.CRASH_LOOP in rec.fields.get("alerts", ()), 60, what="crash-loop alert")
    assert rec.state is WorkerState.ERROR
    assert "crash" in rec.fields["message"].lower()
    assert "simulated" in rec.fields["message"]  # the worker's own last error line is shown
    # backing off: the container is held stopped (not restarted by Docker's policy either)
    time.sleep(0.5)
    assert container(docker_client, spec).status == "exited"
    control(spec, None)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online after the cause is fixed")
    assert Alert.CRASH_LOOP not in rec.fields["alerts"]


def test_image_missing_reports_error(worker_env, supervise):
    spec = make_spec(worker_env, image="127.0.0.1:1/lcai/missing-worker:1")
    _sup, rec = supervise(worker_env[0], lambda: spec)
    wait_for(lambda: rec.state is WorkerState.ERROR, 60, what="error state")
    assert "missing-worker" in rec.fields["message"]
    assert rec.fields["fix"]


def test_pause_persists_and_resume(worker_env, supervise, docker_client):
    paths = worker_env[0]
    spec = make_spec(worker_env)
    sup, rec = supervise(paths, lambda: spec)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    sup.pause()
    assert sup.pause_file.exists()
    assert container(docker_client, spec).status == "exited"
    assert rec.state is WorkerState.PAUSED
    sup.stop()
    # a new supervisor (agent restart) honours the marker and does not revive the worker
    sup2, rec2 = supervise(paths, lambda: spec)
    wait_for(lambda: rec2.state is WorkerState.PAUSED, 20, what="paused after restart")
    time.sleep(1.0)
    assert container(docker_client, spec).status == "exited"
    sup2.resume()
    wait_for(lambda: rec2.state is WorkerState.ONLINE, 60, what="online after resume")
    sup2.pause()
    sup2.restart()  # Restart clears the pause
    assert not sup2.pause_file.exists()
    wait_for(lambda: rec2.state is WorkerState.ONLINE, 60, what="online after restart")
    # "remove worker": pause, then delete the container; it stays gone while paused
    sup2.pause("worker removed")
    assert sup2.remove_container() is True
    sup2.wake()
    time.sleep(1.0)
    assert wc.find(docker_client, spec.name) is None and rec2.state is WorkerState.PAUSED


def test_hold_keeps_worker_stopped(worker_env, supervise, docker_client):
    spec = make_spec(worker_env)
    sup, rec = supervise(worker_env[0], lambda: spec)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    with sup.hold("withdraw"):
        assert container(docker_client, spec).status == "exited"
        assert rec.state is WorkerState.STOPPING and "withdraw" in rec.fields["message"]
        sup.wake()
        time.sleep(1.5)  # several ticks: nothing may restart it
        assert container(docker_client, spec).status == "exited"
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online after hold")
    assert "operation" not in rec.fields  # the agent's operation field is not the supervisor's to set


def test_hold_waits_for_active_jobs_to_drain(worker_env, supervise, docker_client):
    spec = make_spec(worker_env)
    sup, rec = supervise(worker_env[0], lambda: spec)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    control(spec, "busy")
    wait_for(lambda: sup.active_jobs() == 1, 20, what="one active job")
    threading.Timer(1.5, control, (spec, None)).start()  # the job finishes 1.5 s later
    t0 = time.monotonic()
    with sup.hold("top-up", drain_timeout=30):
        waited = time.monotonic() - t0
        assert container(docker_client, spec).status == "exited"
    assert waited >= 1.0  # it waited for the job instead of cancelling it
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online after hold")


def test_config_drift_recreates(worker_env, supervise, docker_client):
    specs = {"now": make_spec(worker_env)}
    sup, rec = supervise(worker_env[0], lambda: specs["now"])
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    first = container(docker_client, specs["now"])
    specs["now"] = make_spec(worker_env, models=["llama3-8b", "gpt-oss:20b"],
                             metrics_port=specs["now"].metrics_port)
    sup.wake()
    wait_for(lambda: (c := wc.find(docker_client, specs["now"].name)) is not None and c.id != first.id, 60,
             what="recreated")
    c = container(docker_client, specs["now"])
    env = dict(e.split("=", 1) for e in c.attrs["Config"]["Env"])
    assert env["SUPPORTED_MODELS"] == "llama3-8b,gpt-oss:20b"
    pinned = dataclasses.replace(specs["now"], image=c.attrs["Image"])  # the worker runs the pinned image id
    assert c.labels[wc.LABEL_HASH] == pinned.config_hash() != first.labels[wc.LABEL_HASH]
    wait_for(lambda: rec.state is WorkerState.ONLINE and rec.fields["served_models"] == ("llama3-8b", "gpt-oss:20b"),
             60, what="online with new models")


def test_keep_awake_held_while_online_released_when_paused(worker_env, supervise, monkeypatch):
    monkeypatch.setenv("WAKEPY_FAKE_SUCCESS", "1")
    spec = make_spec(worker_env)
    sup, rec = supervise(worker_env[0], lambda: spec, keep_awake=KeepAwake())
    wait_for(lambda: rec.state is WorkerState.ONLINE and rec.fields["keep_awake"], 60, what="online + awake")
    assert Alert.KEEP_AWAKE_UNAVAILABLE not in rec.fields["alerts"]
    assert rec.fields["keep_awake_available"] is True and rec.fields["keep_awake_reason"]
    sup.pause()
    assert rec.fields["keep_awake"] is False and not sup.keep_awake.held


def test_keep_awake_unavailable_is_a_status_not_a_crash(worker_env, supervise, monkeypatch):
    monkeypatch.delenv("WAKEPY_FAKE_SUCCESS", raising=False)
    monkeypatch.setenv("WAKEPY_FORCE_FAILURE", "1")
    spec = make_spec(worker_env)
    _sup, rec = supervise(worker_env[0], lambda: spec, keep_awake=KeepAwake())
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    assert rec.fields["keep_awake"] is False
    assert "unavailable" in rec.fields["keep_awake_reason"]
    assert rec.fields["keep_awake_available"] is False
    assert Alert.KEEP_AWAKE_UNAVAILABLE in rec.fields["alerts"]


def test_docker_missing_state(paths, supervise, worker_env):
    spec = make_spec(worker_env)

    def no_docker():
        raise docker_engine.DockerNotInstalled("Docker is not installed", fix="install Docker")

    _sup, rec = supervise(paths, lambda: spec, connect=no_docker)
    wait_for(lambda: rec.state is WorkerState.DOCKER_MISSING, 10, what="docker_missing")
    assert rec.fields["fix"] == "install Docker"


def test_ollama_pinned_after_start_and_down_alert(worker_env, supervise, fake_ollama):
    from tray_agent.core.runtime.ollama import OllamaManager

    fake_ollama.install("llama3:8b")
    fake_ollama.install("gpt-oss:20b")
    mgr = OllamaManager(fake_ollama.url, allow_host_start=False)
    mgr.ensure_models(["llama3-8b"])
    specs = {"now": make_spec(worker_env, ollama_url=fake_ollama.url, models=["llama3-8b", "gpt-oss:20b"])}
    _sup, rec = supervise(worker_env[0], lambda: specs["now"], ollama=mgr)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    wait_for(lambda: {"llama3-8b", "gpt-oss:20b"} <= mgr.loaded(), 30, what="models pinned")
    gens = [r for r in fake_ollama.requests_to("/api/generate") if r.body.get("keep_alive") == -1]
    assert gens, "warm-up with keep_alive -1 expected"
    assert not fake_ollama.unload_requests()
    # a model change unloads the model no longer served (it would stay pinned with keep_alive -1)
    specs["now"] = make_spec(worker_env, ollama_url=fake_ollama.url, models=["llama3-8b"],
                             metrics_port=specs["now"].metrics_port)
    _sup.wake()
    wait_for(lambda: fake_ollama.unload_requests("gpt-oss:20b"), 60, what="dropped model unloaded")
    wait_for(lambda: "gpt-oss:20b" not in mgr.loaded() and "llama3-8b" in mgr.loaded(), 30, what="only served pinned")
    assert not fake_ollama.unload_requests("llama3-8b")
    fake_ollama.stop()
    wait_for(lambda: Alert.OLLAMA_DOWN in rec.fields.get("alerts", ()), 30, what="ollama down alert")


def test_dockerd_restart_watcher_reconnects(worker_env, sim_image):
    need(os.geteuid() == 0 and shutil.which("dockerd") is not None, "root + dockerd for a private engine")
    paths = worker_env[0]
    root = tempfile.mkdtemp(prefix="lcai-rt-", dir="/tmp")
    engine = PrivateDockerd(root).start()
    rec = Recorder()
    sup = None
    try:
        client = docker.DockerClient(base_url=engine.url, timeout=60)
        images.build_sim_image(client, images.SIM_IMAGE)
        client.close()
        spec = make_spec(worker_env)
        starts: list[float] = []

        def start_engine():  # what the OS service manager would do
            starts.append(time.monotonic())
            engine.start()

        def connect():
            return docker_engine.connect(env={"DOCKER_HOST": engine.url}, timeout=5)

        sup = Supervisor(paths, lambda: spec, rec, config=fast_config(engine_autostart=True, engine_retry=1.0),
                         connect=connect, start_engine=start_engine, keep_awake=KeepAwake(enabled=False)).start()
        wait_for(lambda: rec.state is WorkerState.ONLINE and sup.watcher_connected, 60, what="online")
        reconnects = sup.watcher_reconnects
        t0 = time.monotonic()
        engine.stop()
        wait_for(lambda: rec.saw(WorkerState.DOCKER_DOWN), 30, what="docker_down")
        wait_for(lambda: starts, 30, what="engine start attempt")
        wait_for(lambda: sup.watcher_reconnects > reconnects and sup.watcher_connected, 60,
                 what="events watcher reconnected")
        wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online after dockerd restart")
        t_online = time.monotonic()
        print(f"\nMEASURED dockerd stop -> online: {t_online - t0:.2f} s; engine restart -> online: "
              f"{t_online - starts[0]:.2f} s (goal <= 15 s)")
        # the watcher still works after the reconnect: a kill is seen and repaired
        c = docker.DockerClient(base_url=engine.url, timeout=30)
        seen = sup.events_seen
        ctr = c.containers.get(spec.name)
        os.kill(ctr.attrs["State"]["Pid"], signal.SIGKILL)
        wait_for(lambda: sup.events_seen > seen, 30, what="event after reconnect")
        wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online after kill")
        c.close()
    finally:
        if sup is not None:
            sup.stop()
        try:
            c2 = docker.DockerClient(base_url=engine.url, timeout=30)
            remove_by_label(c2, f"lcai.profile={paths.profile}")
            c2.close()
        except Exception:
            pass
        engine.cleanup()


def test_image_digest_recorded_and_update_alert(worker_env, supervise, monkeypatch):
    spec = make_spec(worker_env)
    sup, rec = supervise(worker_env[0], lambda: spec)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    digest = rec.fields["extra"]["runtime"]["image_digest"]
    assert digest.startswith("sha256:")
    pin = images.ImagePins(worker_env[0].data / "image-pins.json").get(spec.network.name)
    assert pin is not None and pin.digest == digest and pin.ref == spec.image
    assert sup.check_image_update() is None  # offline / same digest: no alert
    monkeypatch.setattr(images, "newer_digest", lambda client, ref, current: "sha256:" + "f" * 64)
    assert sup.check_image_update() == "sha256:" + "f" * 64
    assert Alert.IMAGE_UPDATE in rec.fields["alerts"]
