"""The pure health classifier: one row per outcome (and the priority rows), no Docker."""

from __future__ import annotations

import pytest

from tray_agent.common.status import WorkerState as S
from tray_agent.core.runtime.health import NONE, RESTART_STALE, START, Facts, classify
from tray_agent.core.runtime.metrics import MetricsSnapshot, WorkerHealth


def hw(*, ok: bool = True, gateway: bool = False, running: bool = True, jobs: int | None = 0, expects: bool = False,
       error: str = "", last_error: str = "") -> WorkerHealth:
    snap = MetricsSnapshot(active_jobs=jobs) if jobs is not None else None
    return WorkerHealth(healthz_ok=ok, metrics=snap, gateway_connected=gateway, sortition_running=running,
                        expects_gateway=expects, last_error=last_error, error=error)


RUN = dict(now=1000.0, container_status="running", started_at=900.0, startup_grace=90.0, stale_after=180.0)

ROWS = [
    # id, facts, state, message contains, fix contains, action
    ("spec-error", Facts(spec_error=("keychain locked", "unlock it")), S.ERROR, "keychain locked", "unlock", NONE),
    ("spec-error-beats-setup", Facts(spec_error=("keychain locked", "unlock it"), has_spec=False), S.ERROR,
     "keychain locked", "unlock", NONE),
    ("setup-needed", Facts(has_spec=False), S.SETUP_NEEDED, "Finish setup", "setup", NONE),
    ("hold", Facts(hold="withdraw", docker_error=("down", "x", "y")), S.STOPPING, "withdraw", "", NONE),
    ("docker-down", Facts(docker_error=("down", "Docker is not running", "start Docker"), paused=True),
     S.DOCKER_DOWN, "not running", "start Docker", NONE),
    ("docker-missing", Facts(docker_error=("missing", "Docker is not installed", "install Docker")),
     S.DOCKER_MISSING, "not installed", "install", NONE),
    ("paused", Facts(paused=True, backoff_left=30), S.PAUSED, "Paused", "Start the worker", NONE),
    ("crash-backoff", Facts(backoff_left=30.4, crash_error="bad key", image_error=("x", "y")), S.ERROR,
     "keeps crashing: bad key", "retries in 30 s", NONE),
    ("image-error", Facts(image_error=("pulling w failed", "check the network")), S.ERROR, "pulling w", "network",
     NONE),
    ("pulling", Facts(pulling="Downloading worker image: 40%"), S.STARTING, "40%", "", NONE),
    ("restarting", Facts(container_status="running", restarting=True), S.STARTING, "restarting", "", NONE),
    ("dead", Facts(container_status="exited"), S.STARTING, "restarted", "", START),
    ("no-container", Facts(container_status=""), S.STARTING, "restarted", "", START),
    ("online-idle", Facts(**RUN, health=hw()), S.ONLINE, "waiting for jobs", "", NONE),
    ("online-busy", Facts(**RUN, health=hw(jobs=2)), S.ONLINE, "Processing 2 jobs", "", NONE),
    ("online-gateway", Facts(**RUN, health=hw(gateway=True, running=False, expects=True)), S.ONLINE, "Online", "",
     NONE),
    ("draining", Facts(**RUN, health=hw(jobs=1), draining="restarting the worker"), S.STOPPING,
     "Waiting for 1 job to finish before restarting", "", NONE),
    ("draining-unreadable", Facts(**RUN, health=hw(ok=False, jobs=None), draining="updating"), S.STOPPING,
     "running jobs", "", NONE),
    ("starting-in-grace", Facts(now=1000.0, container_status="running", started_at=950.0,
                                health=hw(ok=False, jobs=None)), S.STARTING, "starting", "", NONE),
    ("stale-waiting", Facts(now=1000.0, container_status="running", started_at=800.0, last_connected=900.0,
                            health=hw(gateway=False, expects=True, error="connection refused")), S.STALE,
     "connection refused", "restarts it", NONE),
    ("stale-never-connected", Facts(now=1000.0, container_status="running", started_at=850.0,
                                    health=hw(ok=False, jobs=None)), S.STALE, "not connected", "", NONE),
    ("stale-restart", Facts(now=1000.0, container_status="running", started_at=500.0, last_connected=800.0,
                            health=hw(gateway=False, expects=True)), S.STALE, "restarting", "", RESTART_STALE),
]


@pytest.mark.parametrize(("facts", "state", "msg", "fix", "action"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_classify(facts, state, msg, fix, action):
    v = classify(facts)
    assert v.state is state
    assert msg in v.message
    assert fix in v.fix
    assert v.action == action


def test_every_state_the_supervisor_reports_has_a_row():
    states = {r[2] for r in ROWS}
    assert states == {S.ERROR, S.SETUP_NEEDED, S.STOPPING, S.DOCKER_DOWN, S.DOCKER_MISSING, S.PAUSED, S.STARTING,
                      S.ONLINE, S.STALE}
