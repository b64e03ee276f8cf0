"""anvil stopped mid-operation, dockerd restarted during a run, worker container crash loop — real processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.faults.conftest import need_root_dockerd
from tests.harness import AgentProc, Chain, make_releasable, wait_until

pytestmark = [pytest.mark.docker]
# the typed errors of an unreachable chain (tray_agent/core/chain/errors.py): never internal_error
TYPED_CHAIN_ERRORS = {"rpc_unavailable", "rpc_error", "tx_timeout"}
RELEASED = 6  # JobRegistry job state (contracts/JobRegistryReplica.sol)


def _kill_anvil(a: AgentProc) -> int:
    pid = a.anvil_pid()
    os.kill(pid, signal.SIGTERM)  # anvil dumps its --state on SIGTERM: the chain survives the restart
    wait_until(lambda: not _alive(pid), 15, what="anvil exit")
    return pid


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _restart_anvil(a: AgentProc) -> None:
    """Start anvil again on the same port from its state file (what a user restarting the chain does)."""
    from tray_agent.core.devnet import start_devnet

    book = a.devnet_book()
    dn = start_devnet(a.book_file.parent, port=int(book["port"]))
    assert dn.rpc_url == book["rpc"]


def test_anvil_stopped_mid_operation_clear_error_then_retry_succeeds(agent_factory):
    a = agent_factory("anvildown").start()
    a.onboard()
    a.wait_state("online", 30)
    ids = make_releasable(a, 3)
    r = a.post("/api/ops/settle", {"confirm": True})
    assert r.status == 202, r.body
    op_id = r.body["op_id"]
    wait_until(lambda: (a.get(f"/api/ops/{op_id}").body or {}).get("progress"), 10, 0.02, "settle progress")
    _kill_anvil(a)
    rec = a.wait_op(op_id, 120)
    if rec["state"] == "done":  # finished before the chain went away: run one more against the dead chain
        r = a.post("/api/ops/settle", {"confirm": True})
        rec = a.wait_op(r.body["op_id"], 120)
    assert rec["state"] == "failed", rec
    err = rec["error"]
    print(f"\nsettle with anvil down: {err}")
    assert err["code"] in TYPED_CHAIN_ERRORS, f"not a typed chain error: {err}"
    assert err.get("fix") and err.get("message"), err
    assert any(w in (err["message"] + err["fix"]).lower() for w in ("rpc", "chain", "reach", "connect")), err
    wait_until(lambda: "rpc_down" in a.status().get("alerts", []), 30, what="rpc_down alert")
    # anvil back → the retry succeeds and every job is released exactly once
    _restart_anvil(a)
    wait_until(lambda: "rpc_down" not in a.status().get("alerts", []), 30, what="rpc_down alert cleared")
    # a restarted anvil keeps its state but not the time travel: move past the dispute window again
    Chain(a.rpc_url()).call("evm_increaseTime", [120])
    Chain(a.rpc_url()).call("evm_mine", [])
    again = a.op("settle", {"confirm": True}, timeout=120)
    assert again["state"] == "done", again
    assert not again["result"]["failed"], again["result"]
    chain = Chain(a.rpc_url())
    from eth_utils import keccak

    from tray_agent.core.chain.abi import Contract

    book = a.devnet_book()
    jr = Contract.worker("JobRegistry", book["JobRegistry"], with_replica=True)
    for j in ids:  # every job ends Released
        data = chain.call("eth_call", [{"to": jr.address, "data": jr.encode("getJob", j)}, "latest"])
        job = jr.decode_output("getJob", data)
        state = job["state"] if isinstance(job, dict) else job[2]
        assert int(state) == RELEASED, (j, job)
    # … exactly once: one JobReleased event per job over the whole chain (the failed run and the retry)
    topic0 = "0x" + keccak(text="JobReleased(uint256,uint256,uint256,uint256)").hex().removeprefix("0x")
    logs = chain.call("eth_getLogs", [{"address": jr.address, "fromBlock": "0x0", "toBlock": "latest",
                                        "topics": [topic0]}])
    released = [int(lg["topics"][1], 16) for lg in logs]
    assert {j: released.count(j) for j in ids} == {j: 1 for j in ids}, released
    a.wait_state("online", 60)


def test_dockerd_restart_during_a_run_brings_the_worker_back(agent_factory, tmp_path_factory):
    need_root_dockerd()
    from tests.plugins.docker import PrivateDockerd

    root = Path(tmp_path_factory.mktemp("dd", numbered=True))
    short = Path(f"/tmp/lcai-fd-{os.getpid()}")  # unix socket paths are limited to 108 bytes
    short.symlink_to(root)
    engine = PrivateDockerd(short).start()
    try:
        a = agent_factory("ddrestart", extra_env={"DOCKER_HOST": engine.url})
        a.start()
        a.onboard(timeout=240)
        a.wait_state("online", 60)
        engine.stop()
        wait_until(lambda: a.status()["state"] != "online", 30, 0.1, "the agent noticing dockerd is gone")
        t0 = time.monotonic()
        engine.start()
        a.wait_state("online", 90)
        took = time.monotonic() - t0
        print(f"\ndockerd restarted → worker online in {took:.1f} s")
        assert a.status()["container_running"] is True
    finally:
        try:
            import docker

            c = docker.DockerClient(base_url=engine.url, timeout=20)
            for ct in c.containers.list(all=True):
                ct.remove(force=True)
            c.close()
        except Exception:
            pass
        engine.stop()
        short.unlink()
        _umount_below(root)


def _umount_below(root: Path) -> None:
    """dockerd leaves netns bind mounts below its exec root: unmount them so the tmp dir can be removed."""
    import subprocess

    real = str(root.resolve())
    with open("/proc/mounts") as fh:
        points = [ln.split()[1] for ln in fh if ln.split()[1].startswith(real)]
    for m in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)


def test_container_crash_loop_backs_off_and_alerts_then_recovers(agent_factory, docker_client):
    a = agent_factory("crashloop").start()
    a.onboard()
    a.wait_state("online", 30)
    control = a.data / "networks" / "devnet" / "state" / "sim-control"
    control.write_text("crash")
    for c in docker_client.containers.list(filters={"label": f"lcai.profile={a.profile}"}):
        c.kill()
    st = wait_until(lambda: (s := a.status()) and "crash_loop" in s.get("alerts", []) and s, 120, 0.5,
                    "crash_loop alert")
    assert st["state"] == "error", st
    assert "crash" in st["message"].lower() and "retries in" in st["fix"], st
    # backoff: the container stays down for a while instead of restarting in a tight loop
    restarts_before = a.status()["extra"].get("runtime", {}).get("restarts")
    time.sleep(5)
    assert a.status()["container_running"] is False
    assert a.status()["extra"].get("runtime", {}).get("restarts") == restarts_before
    # the cause is fixed → the agent gets it back online by itself after the backoff
    control.write_text("ok")
    a.wait_state("online", 120)
    assert "crash_loop" not in a.status()["alerts"]
