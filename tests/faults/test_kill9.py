"""kill -9 of the agent at every onboarding step and during operations, then relaunch.

Invariants after every relaunch: exactly one worker key (the same one when it existed before the kill), one
registration with exactly the minimum stake, no lost funds, the interrupted operation is marked ``interrupted``
in the history, and finishing onboarding / re-running the operation works.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.harness import (
    ETHER,
    MODEL,
    PASSWORD,
    AgentProc,
    Chain,
    make_releasable,
    user_wallet_received,
    wait_until,
)

pytestmark = [pytest.mark.docker]
MIN_STAKE = 5000 * ETHER
GAS_BUDGET = ETHER // 10  # devnet gas for a handful of transactions is far below this


def keystores(a: AgentProc) -> list[str]:
    net = a.data / "networks" / "devnet"
    return sorted(str(p.relative_to(net)) for p in net.rglob("keystore.json") if ".keys-staging" not in str(p))


def kill_when(a: AgentProc, op_id: str, needle: str, timeout: float = 60.0, delay: float = 0.0) -> dict:
    """SIGKILL the agent while the op runs: as soon as a progress message contains ``needle`` (polled at 20 ms),
    or ``delay`` seconds after the start when there is no needle. Returns where the kill landed: the op state and
    the last progress message seen just before the kill."""
    deadline = time.monotonic() + timeout
    rec: dict = {}
    if not needle:
        time.sleep(delay)
    while True:
        rec = a.get(f"/api/ops/{op_id}", timeout=5).body or {}
        seen = not needle or any(needle in p.get("message", "") for p in rec.get("progress", []))
        if seen or rec.get("state") in ("done", "failed", "interrupted") or time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    a.kill9()
    return {"state": rec.get("state", "?"), "needle_seen": seen,
            "last_progress": (rec.get("progress") or [{}])[-1].get("message")}


def assert_landed(landing: dict, needle: str) -> None:
    """The kill hit the operation while it ran, after the step ``needle`` names (not before, not after the end)."""
    assert landing["state"] in ("queued", "running"), f"the kill missed the operation: {landing}"
    assert landing["needle_seen"], f"the kill landed before {needle!r}: {landing}"


def assert_interrupted(a: AgentProc, op_id: str, needle: str) -> dict:
    """After the relaunch the killed op reads ``interrupted`` with a fix, and its stored progress still shows the
    step the kill landed after."""
    rec = a.get(f"/api/ops/{op_id}").body
    assert rec["state"] == "interrupted", f"an op killed while running must read interrupted: {rec}"
    assert rec["error"]["code"] == "interrupted" and rec["error"].get("fix"), rec
    assert op_id in {o["id"] for o in interrupted_ops(a)}
    if needle:
        assert any(needle in p["message"] for p in rec["progress"]), rec["progress"]
    return rec


def finish_onboarding(a: AgentProc) -> dict:
    """Relaunch path: repeat every onboarding call (all idempotent), fund only when needed, continue."""
    assert a.post("/api/onboarding/network", {"network": "devnet"}).status == 200
    assert a.post("/api/onboarding/models", {"models": [MODEL]}).status == 200
    r = a.post("/api/onboarding/password", {"password": PASSWORD})
    assert r.status == 200, r.body
    ob = a.get("/api/onboarding").body
    if not ob.get("funding", {}).get("funded"):
        rec = a.op("devnet_fund", {}, timeout=60)
        assert rec["state"] == "done", rec
    r = a.post("/api/onboarding/continue", {})
    assert r.status == 202, r.body
    rec = a.wait_op(r.body["op_id"], 120)
    assert rec["state"] == "done", rec
    return rec


def check_invariants(a: AgentProc, address_before: str | None, funds: bool = True,
                     stakes: tuple[int, ...] = (MIN_STAKE,)) -> dict:
    st = wait_until(lambda: (s := a.status()).get("registered") and s, 30, what="registered status")
    assert keystores(a) == ["keys/keystore.json"], f"expected exactly one (active) key, found {keystores(a)}"
    if address_before:
        assert st["address"] == address_before, "the worker key changed across the kill"
    assert int(st["stake_wei"]) in stakes, f"stake is {st['stake_wei']}, expected one of {stakes}"
    if not funds:  # after settle the worker holds earnings too: the caller checks its own balance sheet
        return st
    chain = Chain(a.rpc_url())
    received = user_wallet_received(a)
    held = chain.balance(st["address"]) + MIN_STAKE
    assert 0 <= received - held < GAS_BUDGET, f"funds: received {received}, worker holds {held}"
    return st


def record(output_dir: Path, case: str, **info) -> None:
    """Where each kill actually landed (test-output/kill9-outcomes.jsonl): proof the kills hit mid-step."""
    with open(output_dir / "kill9-outcomes.jsonl", "a") as fh:
        fh.write(json.dumps({"case": case, **info}) + "\n")


def interrupted_ops(a: AgentProc) -> list[dict]:
    return [o for o in a.get("/api/history?limit=100").body["items"] if o["state"] == "interrupted"]


ONBOARDING_KILLS = [
    "after_network", "after_models", "password_inflight", "after_password", "fund_inflight",
    "continue_immediately", "continue_funds_arrived", "continue_registering", "continue_container",
    "continue_waiting_online",
]


@pytest.mark.parametrize("point", ONBOARDING_KILLS)
def test_kill9_during_onboarding_then_relaunch(agent_factory, output_dir, point):
    a = agent_factory(f"k{ONBOARDING_KILLS.index(point)}").start()
    address_before = None
    killed_op = None
    needle = ""
    assert a.post("/api/onboarding/network", {"network": "devnet"}).status == 200
    if point == "after_network":
        a.kill9()
    else:
        assert a.post("/api/onboarding/models", {"models": [MODEL]}).status == 200
        if point == "after_models":
            a.kill9()
        elif point == "password_inflight":
            t = threading.Thread(target=lambda: _quiet(a.post, "/api/onboarding/password", {"password": PASSWORD}))
            t.start()
            time.sleep(0.03)
            a.kill9()
            t.join(10)
        else:
            assert a.post("/api/onboarding/password", {"password": PASSWORD}).status == 200
            address_before = a.status()["address"]
            if point == "after_password":
                a.kill9()
            elif point == "fund_inflight":
                r = a.post("/api/ops/devnet_fund", {})
                killed_op, needle = r.body["op_id"], "sending"
                assert_landed(kill_when(a, killed_op, needle), needle)
            else:
                assert a.op("devnet_fund", {}, timeout=60)["state"] == "done"
                r = a.post("/api/onboarding/continue", {})
                killed_op = r.body["op_id"]
                needle = {"continue_immediately": "", "continue_funds_arrived": "funds arrived",
                          "continue_registering": "regist", "continue_container": "starting the worker container",
                          "continue_waiting_online": "waiting for the worker"}[point]
                assert_landed(kill_when(a, killed_op, needle), needle)
    assert not a.alive()

    a.start()
    rec = a.get(f"/api/ops/{killed_op}").body if killed_op else {}
    ob = a.get("/api/onboarding").body
    record(output_dir, f"onboarding:{point}", op_state=rec.get("state"), step_after_relaunch=ob.get("step"),
           last_progress=(rec.get("progress") or [{}])[-1].get("message"), key=bool(a.status().get("address")))
    if killed_op:
        assert_interrupted(a, killed_op, needle)
    finish_onboarding(a)
    check_invariants(a, address_before)
    a.wait_state("online", 30)


def _quiet(fn, *args):
    try:
        fn(*args)
    except Exception:
        pass


# --- operations: one onboarded agent, killed and relaunched around each operation -----------------------
DEAD = "0x000000000000000000000000000000000000dEaD"


@pytest.fixture(scope="module")
def onboarded(module_agent_factory):
    a = module_agent_factory("killops").start()
    a.onboard()
    a.wait_state("online", 30)
    return a


def _money(a: AgentProc) -> int:
    """Everything the worker owns outside escrow: wallet + contract balance + stake + what went to DEAD."""
    st = a.status()
    chain = Chain(a.rpc_url())
    return chain.balance(st["address"]) + int(st["worker_balance_wei"]) + int(st["stake_wei"]) + chain.balance(DEAD)


@pytest.mark.parametrize("kind,body,needle", [
    ("settle", {"confirm": True}, "pauses"),
    ("withdraw", {"to": DEAD, "amount": "1", "confirm": True}, ""),
    ("set_models", {"models": [MODEL, "qwen3-embedding:0.6b"]}, ""),
    ("restart", {}, ""),
    ("top_up", {"amount": "1", "confirm": True}, ""),
])
def test_kill9_during_operation_then_relaunch(onboarded, output_dir, kind, body, needle):
    a = onboarded
    if not a.alive():
        a.start()
    a.wait_state("online", 60)
    if kind == "settle":
        make_releasable(a, 10)
    wait_until(lambda: a.status().get("registered"), 20, what="status refresh")
    dead_before = Chain(a.rpc_url()).balance(DEAD)
    stake_before = int(a.status()["stake_wei"])
    before = _money(a)
    r = a.post(f"/api/ops/{kind}", body)
    assert r.status == 202, r.body
    op_id = r.body["op_id"]
    landing = kill_when(a, op_id, needle, delay=0.05)
    assert_landed(landing, needle)

    a.start()
    rec = a.get(f"/api/ops/{op_id}").body
    record(output_dir, f"operation:{kind}", op_state=rec.get("state"), **landing)
    assert_interrupted(a, op_id, needle)
    a.wait_state("online", 60)  # the watchdog brings the worker back even when the kill hit the writer gate
    topped = (stake_before, stake_before + ETHER) if kind == "top_up" else (stake_before,)
    check_invariants(a, None, funds=False, stakes=topped)  # top_up: staked once or not at all, never twice
    sent = Chain(a.rpc_url()).balance(DEAD) - dead_before
    if kind == "withdraw":
        assert sent in (0, ETHER), f"withdraw sent {sent} wei: neither nothing nor the amount"
    assert _money(a) >= before - GAS_BUDGET, "funds were lost across the kill"
    # the same operation runs to the end after the relaunch
    stake_mid = int(a.status()["stake_wei"])
    again = a.op(kind, body, timeout=120)
    assert again["state"] == "done", again
    a.wait_state("online", 60)
    if kind == "top_up":
        wait_until(lambda: int(a.status()["stake_wei"]) == stake_mid + ETHER, 20, what="stake after top-up")


@pytest.mark.parametrize("needle", ["", "(stake is returned)"], ids=["at_submit", "sending"])
def test_kill9_during_deregister_then_relaunch(agent_factory, output_dir, needle):
    """The stake comes back exactly once: killed mid-deregister, relaunched; the persisted schedule (or a rerun, when
    the kill came before it was written) finishes it."""
    a = agent_factory(f"kdereg{len(needle)}").start()
    a.onboard()
    a.wait_state("online", 30)
    book = a.devnet_book()
    chain = Chain(book["rpc"])
    # devnet only: an empty consumer account submits no more jobs, so the worker can become job-free
    chain.call("anvil_setBalance", [book["consumer"]["address"], "0x0"])
    time.sleep(3)  # the sim worker completes what it already acknowledged
    for _ in range(4):  # completed jobs become releasable after the dispute window: time travel + settle
        chain.call("evm_increaseTime", [61])
        chain.call("evm_mine", [])
        assert a.op("settle", {"confirm": True}, timeout=120)["state"] == "done"
        time.sleep(2.5)  # one status refresh (2 s on devnet)
        if a.status()["active_jobs"] == 0:
            break
    assert a.status()["active_jobs"] == 0, a.status()
    addr = a.status()["address"]
    before = chain.balance(addr) + int(a.status()["stake_wei"]) + int(a.status()["worker_balance_wei"])
    r = a.post("/api/ops/deregister", {"confirm": True})
    assert r.status == 202, r.body
    op_id = r.body["op_id"]
    assert_landed(kill_when(a, op_id, needle), needle)
    a.start()
    rec = a.get(f"/api/ops/{op_id}").body
    record(output_dir, f"operation:deregister:{needle or 'at_submit'}", op_state=rec.get("state"),
           last_progress=(rec.get("progress") or [{}])[-1].get("message"))
    assert_interrupted(a, op_id, needle)
    st = wait_until(lambda: (s := a.status()) and s.get("address") and s, 30, what="status")
    time.sleep(6)  # one supervisor tick: what does the agent do with the worker after the interrupted deregister?
    st = a.status()
    record(output_dir, "deregister-relaunch", registered=st["registered"], state=st["state"],
           container_running=st["container_running"], onboarding_step=a.get("/api/onboarding").body.get("step"))
    if not st["registered"]:  # the tx landed before the kill: no worker may keep running for an unregistered key
        assert not st["container_running"] and st["state"] != "online", st
    if st["registered"] and not st["deregister_at"]:  # killed before the schedule was written: run it again
        again = a.op("deregister", {"confirm": True}, timeout=120)
        assert again["state"] == "done", again
    # otherwise the deregistration was persisted as a schedule: it is due, and the agent finishes it by itself
    st = wait_until(lambda: (s := a.status()) and not s["registered"] and not s["deregister_at"] and s, 90,
                    what="deregistered status")
    assert int(st["stake_wei"]) == 0
    after = chain.balance(addr) + int(st["worker_balance_wei"])
    assert 0 <= before - after < GAS_BUDGET, f"stake not returned exactly once: before {before}, after {after}"
    assert keystores(a) == ["keys/keystore.json"]
