"""Against the strict simulated worker (SIGTERM cancels in-flight jobs, toolkit §11) with the devnet consumer
sending jobs: restart, settle, withdraw and a model change, each started while a job is in flight, cause no
offence (they drain first); Stop now with a running job causes exactly the offences it announced.

An offence is counted the way the chain counts it: a job of this worker left unfinished past its deadline
(GET /api/stuck after the consumer is stopped, the worker has served what was sent, and chain time has passed
every deadline)."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import urllib.request

import psutil
import pytest

from tests.harness.agent import Chain, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]
LCAI = 10**18


def _metrics_port(a) -> int:
    return int(json.loads((a.data / "networks" / "devnet" / "worker.json").read_text())["metrics_port"])


def _active_jobs(port: int) -> int:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return 0
    m = re.search(r"^worker_active_jobs\s+([0-9.]+)", text, re.M)
    return int(float(m.group(1))) if m else 0


def _in_flight(a, port: int) -> None:
    wait_until(lambda: _active_jobs(port) > 0, 120, interval=0.1, what="a job in flight")


def _stop_consumer(rpc_url: str) -> None:
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if "tray_agent.devnet.consumer" in cmd and rpc_url in cmd:
            os.kill(p.pid, signal.SIGTERM)


def test_operations_drain_and_stop_now_costs_what_it_said(agent_factory):
    a = agent_factory("nooffence")
    a.start()
    a.wait_ready()
    a.onboard()
    a.wait_state("online", 120)
    port = _metrics_port(a)
    models = sorted(a.get("/api/models").body["served"])
    others = [m for m in a.get("/api/models").body["catalog"] if m["name"] not in models]
    other = min(others, key=lambda m: m.get("disk_bytes") or 0)["name"]  # the quickest to pull

    for kind, body in [("restart", {}), ("settle", {"confirm": True}),
                       ("withdraw", {"to": "0x" + "5a" * 20, "amount": "1", "confirm": True}),
                       ("set_models", {"models": [*models, other]})]:
        _in_flight(a, port)
        rec = a.op(kind, body, timeout=300)
        assert rec["state"] == "done", (kind, rec)
        a.wait_state("online", 120)

    _in_flight(a, port)
    running = _active_jobs(port)
    rec = a.op("stop_now", {"confirm": True}, timeout=120)
    assert rec["state"] == "done" and rec["result"]["cancelled_jobs"] >= 1, rec
    announced = rec["result"]["cancelled_jobs"]
    assert announced == running or announced >= 1

    _stop_consumer(a.rpc_url())  # no new jobs; the ones already sent are served after the restart
    assert a.op("start", {}, timeout=120)["state"] == "done"
    a.wait_state("online", 120)
    time.sleep(8)
    wait_until(lambda: _active_jobs(port) == 0, 120, what="the worker to finish what was sent")
    chain = Chain(a.rpc_url())
    chain.call("evm_increaseTime", [3600])
    chain.call("evm_mine", [])
    stuck = a.get("/api/stuck").body["jobs"]
    assert len(stuck) == announced, (announced, stuck)
