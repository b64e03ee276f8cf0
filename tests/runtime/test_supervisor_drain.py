"""Stopping never strands a job (toolkit.md §11, §12): every stop/recreate path of the supervisor waits for the
sim worker's ``worker_active_jobs`` to reach 0 (real dockerd + the sim worker image; a job is held "in flight" with
the sim's ``busy`` control word, which makes it report one active job until cleared)."""

from __future__ import annotations

import threading
import time

import pytest

from tests.runtime.conftest import wait_for
from tests.runtime.test_supervisor import container, control, fast_config, make_spec, supervise  # noqa: F401
from tray_agent.common.status import WorkerState
from tray_agent.core.runtime import worker_container as wc
from tray_agent.core.runtime.drain import DrainCancelled

pytestmark = pytest.mark.docker


def busy_worker(worker_env, supervise, **cfg):  # noqa: F811 - fixture passed through
    spec = make_spec(worker_env)
    sup, rec = supervise(worker_env[0], lambda: spec, config=fast_config(drain_poll=0.2, startup_grace=60.0, **cfg))
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    control(spec, "busy")
    wait_for(lambda: sup.active_jobs() == 1, 20, what="one job in flight")
    return spec, sup, rec


def finish_job_in(spec, seconds: float) -> float:
    t = time.monotonic() + seconds
    threading.Timer(seconds, control, (spec, None)).start()
    return t


def test_restart_waits_for_the_running_job(worker_env, supervise, docker_client):  # noqa: F811
    spec, sup, rec = busy_worker(worker_env, supervise)
    before = container(docker_client, spec).attrs["State"]["StartedAt"]
    done_at = finish_job_in(spec, 2.0)
    progress: list[str] = []
    res = sup.restart(drain_timeout=60, on_progress=lambda m, f: progress.append(m))
    assert res.idle and time.monotonic() >= done_at - 0.1  # restarted only after the job finished
    assert container(docker_client, spec).attrs["State"]["StartedAt"] != before
    assert progress and "1 running job" in progress[0] and "restarting" in progress[0]
    assert rec.saw(WorkerState.STOPPING)  # the wait is visible in the status
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online after restart")


def test_pause_waits_by_default_and_stop_now_reports_the_cancelled_job(worker_env, supervise,  # noqa: F811
                                                                        docker_client):
    spec, sup, rec = busy_worker(worker_env, supervise, drain_timeout=1.0)
    res = sup.pause("stopped by user")  # no timeout given: the configured drain_timeout applies
    assert not res.idle and res.busy == 1 and res.waited_s >= 1.0
    assert container(docker_client, spec).status == "exited"
    sup.resume()
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online again")
    wait_for(lambda: sup.active_jobs() == 1, 20, what="job in flight again")
    t0 = time.monotonic()
    assert sup.stop_now() == 1
    assert time.monotonic() - t0 < 30 and container(docker_client, spec).status == "exited"
    assert sup.paused and rec.state is WorkerState.PAUSED
    assert sup.stop_now() == 0  # nothing runs any more


def test_cancelled_wait_leaves_the_worker_running(worker_env, supervise, docker_client):  # noqa: F811
    spec, sup, _rec = busy_worker(worker_env, supervise)
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    with pytest.raises(DrainCancelled):
        sup.pause("stopped by user", drain_timeout=60, cancel=cancel)
    assert not sup.paused and container(docker_client, spec).status == "running"
    with pytest.raises(DrainCancelled), sup.hold("withdraw", drain_timeout=60, cancel=cancel):
        pass
    assert container(docker_client, spec).status == "running"


def test_hold_and_remove_wait_for_the_running_job(worker_env, supervise, docker_client):  # noqa: F811
    spec, sup, rec = busy_worker(worker_env, supervise)
    done_at = finish_job_in(spec, 1.5)
    with sup.hold("settle") as res:  # the default drain applies to the one-writer gate too
        assert res.idle and time.monotonic() >= done_at - 0.1
        assert container(docker_client, spec).status == "exited"
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online after hold")
    control(spec, "busy")
    wait_for(lambda: sup.active_jobs() == 1, 20, what="job in flight")
    done_at = finish_job_in(spec, 1.5)
    with sup._ops:  # keep the tick from restarting it between the two calls
        sup.pause("worker removed", drain_timeout=60)
        assert time.monotonic() >= done_at - 0.1
        assert sup.remove_container() is True
    assert wc.find(docker_client, spec.name) is None


def test_config_drift_recreates_and_unloads_only_once_the_job_finished(worker_env, supervise,  # noqa: F811
                                                                       docker_client, fake_ollama):
    from tray_agent.core.runtime.ollama import OllamaManager

    fake_ollama.install("gpt-oss:20b")
    mgr = OllamaManager(fake_ollama.url, allow_host_start=False)
    mgr.ensure_models(["llama3-8b"])  # pulled as llama3:8b, copied to the exact name
    specs = {"now": make_spec(worker_env, ollama_url=fake_ollama.url, models=["llama3-8b", "gpt-oss:20b"])}
    sup, rec = supervise(worker_env[0], lambda: specs["now"], config=fast_config(drain_timeout=120, startup_grace=60.0),
                         ollama=mgr)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    wait_for(lambda: {"llama3-8b", "gpt-oss:20b"} <= mgr.loaded(), 30, what="both models pinned")
    first = container(docker_client, specs["now"]).id
    control(specs["now"], "busy")
    wait_for(lambda: sup.active_jobs() == 1, 20, what="job in flight")
    specs["now"] = make_spec(worker_env, ollama_url=fake_ollama.url, models=["llama3-8b"],
                             metrics_port=specs["now"].metrics_port)
    sup.wake()
    wait_for(lambda: "new settings" in rec.fields.get("message", ""), 20, what="recreate deferred")
    time.sleep(1.5)  # several ticks: the running job keeps its container and its model
    assert container(docker_client, specs["now"]).id == first
    assert not fake_ollama.unload_requests("gpt-oss:20b")
    control(specs["now"], None)
    wait_for(lambda: (c := wc.find(docker_client, specs["now"].name)) is not None and c.id != first, 60,
             what="recreated after the job")
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online with new models")
    wait_for(lambda: fake_ollama.unload_requests("gpt-oss:20b"), 30, what="dropped model unloaded")


def test_nothing_to_wait_for_without_a_running_container(worker_env, supervise, docker_client):  # noqa: F811
    from tray_agent.core.runtime import docker_engine

    spec = make_spec(worker_env)

    def no_docker():
        raise docker_engine.DockerNotRunning("Docker is not running", fix="start Docker")

    sup, _rec = supervise(worker_env[0], lambda: spec, connect=no_docker)
    t0 = time.monotonic()
    assert sup.pause("agent stopped", drain_timeout=30).idle  # Docker down: nothing can run or be stopped
    sup.resume()
    sup2, _rec2 = supervise(worker_env[0], lambda: spec)
    assert sup2.restart(drain_timeout=30).idle  # no container yet (or a fresh idle one): no wait
    assert time.monotonic() - t0 < 20


@pytest.mark.parametrize("path", ["restart", "hold"])
def test_a_job_taken_while_the_stop_waits_for_the_ops_lock_is_waited_for(worker_env, supervise, docker_client,  # noqa: F811
                                                                           path):
    """The worker keeps taking jobs between the wait for idle and the stop (the ops lock may be held by a tick or
    another operation): a job acknowledged in that gap must be waited for too, not cancelled by the stop (seen as
    an offence of a model change in tests/faults/test_no_offences.py)."""
    spec = make_spec(worker_env)
    sup, rec = supervise(worker_env[0], lambda: spec, config=fast_config(drain_poll=0.2, startup_grace=60.0))
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    first_wait_done = threading.Event()
    real_drain = sup._drain

    def spy(*a, **kw):
        res = real_drain(*a, **kw)
        first_wait_done.set()
        return res

    sup._drain = spy
    out: dict = {}

    def run():
        if path == "restart":
            out["res"] = sup.restart(drain_timeout=60)
        else:
            with sup.hold("a test transaction", drain_timeout=60) as res:
                out["res"] = res
                out["stopped_at"] = time.monotonic()

    sup._ops.acquire()  # e.g. a supervisor tick holds the lock while the operation's first wait finds no job
    try:
        t = threading.Thread(target=run)
        t.start()
        assert first_wait_done.wait(30), "the first wait did not finish"
        control(spec, "busy")  # a job is acknowledged in the gap
        wait_for(lambda: sup.active_jobs() == 1, 20, what="a job taken in the gap")
        done_at = finish_job_in(spec, 5.0)  # longer than a container restart, so "too early" is unambiguous
    finally:
        sup._ops.release()
    t.join(90)
    assert out["res"].idle, out
    stopped = out.get("stopped_at") or time.monotonic()
    assert stopped >= done_at - 0.1, "the worker was stopped while the gap's job was still running"
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online again")
