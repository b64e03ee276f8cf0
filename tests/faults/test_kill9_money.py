"""kill -9 exactly where money is in flight, through deterministic fault points (LCAI_FAILPOINTS).

A real devnet agent (anvil + replicas, private dockerd, simulated worker container) is relaunched with one fault
point set; the operation is started through the API; the point SIGKILLs the agent; the agent log proves which
point fired. Then, against the chain itself (every transaction the worker address sent, every event, integer
wei), each point must have its outcome:

* no double send: the worker address sent exactly the transactions the point allows, before and after the rerun;
* no lost funds: wallet + contract balance + stake (+ what went out) changes by exactly what the events say,
  minus the exact gas fees of the worker's own transactions;
* after the relaunch the operation reads ``interrupted`` with a fix, and its stored progress names the signed
  transaction it was sending (write-ahead), which the chain shows as mined (or not at all);
* a rerun finishes it (and sends only what is missing).

Where the product cannot meet an outcome yet, that test is ``xfail(strict=True)`` with the fix it needs.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

import pytest
from eth_utils import keccak

from tests.faults.harness import ETHER, MODEL, AgentProc, Chain, wait_until
from tests.faults.killpoints import after_relaunch, relaunch, write_matrix

pytestmark = [pytest.mark.docker]
DEAD = "0x000000000000000000000000000000000000dEaD"
MODEL2, MODEL3 = "qwen3-embedding:0.6b", "qwen3-vl:8b"
HASH_RE = re.compile(r"sending (\w+) transaction (0x[0-9a-f]{12}…[0-9a-f]{12}) \(nonce (\d+)\)")
SEL = {"0x" + keccak(text=s)[:4].hex(): s.split("(")[0] for s in (
    "releaseJobs(uint256[])", "releaseJob(uint256)", "withdraw()", "topUpStake()", "reinstate()",
    "addSupportedModel(bytes32)", "removeSupportedModel(bytes32)", "settleStuckJob(uint256)", "claimTimeout(uint256)",
    "deregisterWorker()", "registerWorker(bytes)", "acknowledgeJob(uint256)", "setCapabilities(uint256)")}


# --- chain-side bookkeeping ----------------------------------------------------------------------------------
class Kit:
    """Reads and test-only writes on the agent's anvil, independent of the agent."""

    def __init__(self, a: AgentProc):
        from tray_agent.core.chain.abi import Contract
        from tray_agent.core.chain.client import ChainClient
        from tray_agent.core.chain.tx import TxSender
        from tray_agent.core.networks import get_network

        book = a.devnet_book()
        self.book = book
        self.ch = Chain(book["rpc"])
        net = get_network("devnet").replace(chain_id=book["chainId"], rpc_url=book["rpc"],
                                            worker_registry=book["WorkerRegistry"], ai_config=book["AIConfig"],
                                            job_registry=book["JobRegistry"], simulated=True)
        self.client = ChainClient(net)
        self.jr = Contract.worker("JobRegistry", book["JobRegistry"], with_replica=True)
        self.reg = Contract.worker("WorkerRegistry", book["WorkerRegistry"], with_replica=True)
        self.ai = Contract.worker("AIConfig", book["AIConfig"], with_replica=True)
        self.owner = TxSender(self.client, bytes.fromhex(book["owner"]["privateKey"].removeprefix("0x")), poll_s=0.02)

    def fee(self, model: str = MODEL) -> int:
        return int(self.client.call(self.ai, "getModelFee", keccak(text=model)))

    def share(self, model: str = MODEL) -> int:
        return self.fee(model) * int(self.client.call(self.ai, "getWorkerFeeBps")) // 10000

    def completed_jobs(self, worker: str, count: int) -> list[int]:
        """Completed jobs for ``worker`` paid by the owner account (the devnet consumer is kept idle)."""
        ids: list[int] = []
        mid = keccak(text=MODEL)
        while len(ids) < count:
            n = min(50, count - len(ids))
            res = self.owner.send(self.jr.address, self.jr.encode("testCreateCompletedJobs", worker, mid, n),
                                  self.fee() * n)
            ids += [int(e.args["jobId"]) for e in res.events(self.jr, "JobCompleted")]
        return ids

    def advance(self, seconds: int) -> None:
        self.ch.call("evm_increaseTime", [seconds])
        self.ch.call("evm_mine", [])

    def owner_tx(self, contract, fn: str, *args, value: int = 0):
        return self.owner.send(contract.address, contract.encode(fn, *args), value)

    def txs_from(self, addr: str, b0: int, b1: int | None = None) -> list[dict]:
        """Every transaction ``addr`` sent in blocks (b0, b1], with its receipt and function name.

        Reading up to the head first waits until nothing ``addr`` sent is still pending: anvil's automine may lag
        the broadcast under load, and a transaction the killed agent broadcast must be counted, not missed."""
        if b1 is None:
            self.wait_mined(addr)
        b1 = self.ch.block() if b1 is None else b1
        out = []
        for n in range(b0 + 1, b1 + 1):
            blk = self.ch.call("eth_getBlockByNumber", [hex(n), True])
            for tx in blk["transactions"]:
                if tx["from"].lower() == addr.lower():
                    r = self.ch.call("eth_getTransactionReceipt", [tx["hash"]])
                    fn = SEL.get(tx["input"][:10], "transfer" if tx["input"] in ("0x", "") else tx["input"][:10])
                    out.append({"hash": tx["hash"], "fn": fn, "to": tx["to"], "value": int(tx["value"], 16),
                                "nonce": int(tx["nonce"], 16), "ok": int(r["status"], 16) == 1,
                                "fee": int(r["gasUsed"], 16) * int(r["effectiveGasPrice"], 16)})
        return out

    def wait_mined(self, addr: str, timeout: float = 30.0) -> None:
        """Wait until every transaction ``addr`` broadcast is in a block (pending nonce == latest nonce)."""
        deadline = time.monotonic() + timeout
        while True:
            pending = int(self.ch.call("eth_getTransactionCount", [addr, "pending"]), 16)
            latest = int(self.ch.call("eth_getTransactionCount", [addr, "latest"]), 16)
            if pending == latest:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{pending - latest} transaction(s) from {addr} still pending after {timeout} s")
            time.sleep(0.2)

    def events(self, contract, name: str, b0: int, b1: int | None = None) -> list:
        b1 = self.ch.block() if b1 is None else b1
        if b1 <= b0:
            return []
        logs = self.ch.call("eth_getLogs", [{"address": contract.address, "fromBlock": hex(b0 + 1),
                                             "toBlock": hex(b1), "topics": [contract.topic(name)]}])
        return [d for d in (contract.decode_log(lg) for lg in logs) if d is not None]

    def worker_balance(self, addr: str) -> int:
        return int(self.client.call(self.jr, "workerBalance", addr))

    def stake(self, addr: str) -> int:
        return int(self.client.call(self.reg, "getWorkerStake", addr))

    def mined(self, tx_hash: str) -> bool | None:
        """True mined ok, False mined reverted, None never reached the chain."""
        r = self.ch.call("eth_getTransactionReceipt", [tx_hash])
        return None if not r else int(r["status"], 16) == 1


@dataclass
class Sheet:
    """What the worker owns at one block: wallet, contract balance, stake (integer wei)."""

    block: int
    wallet: int
    internal: int
    stake: int
    dead: int

    @classmethod
    def take(cls, k: Kit, addr: str) -> Sheet:
        return cls(k.ch.block(), k.ch.balance(addr), k.worker_balance(addr), k.stake(addr), k.ch.balance(DEAD))


def check_ledger(k: Kit, addr: str, before: Sheet, *, released_to_me: int = 0, stake_in: int = 0,
                 stake_out: int = 0) -> Sheet:
    """Integer-wei balance sheet between two blocks: every wei the worker gained or lost is accounted for by
    events and the exact fees of its own transactions."""
    after = Sheet.take(k, addr)
    txs = k.txs_from(addr, before.block, after.block)
    fees = sum(t["fee"] for t in txs)
    sent_value = sum(t["value"] for t in txs)
    withdrawn = sum(int(e.args["amount"]) for e in k.events(k.jr, "WorkerWithdrawal", before.block, after.block)
                    if e.args["worker"].lower() == addr.lower())
    assert after.internal - before.internal == released_to_me - withdrawn, "contract balance does not add up"
    assert after.stake - before.stake == stake_in - stake_out, "stake does not add up"
    assert after.wallet - before.wallet == withdrawn + stake_out - fees - sent_value, \
        f"wallet does not add up: {after.wallet - before.wallet} != {withdrawn} + {stake_out} - {fees} - {sent_value}"
    return after


def released_to(k: Kit, addr: str, b0: int, b1: int | None = None) -> dict[int, int]:
    """jobId → worker share of every JobReleased for ``addr``'s jobs in (b0, b1]; asserts none is released twice."""
    out: dict[int, int] = {}
    for e in k.events(k.jr, "JobReleased", b0, b1):
        jid = int(e.args["jobId"])
        if k.client.get_job(jid)["worker"].lower() != addr.lower():
            continue
        assert jid not in out, f"job {jid} released twice"
        out[jid] = int(e.args["workerShare"])
    return out


# --- the agent, relaunched with a fault point ------------------------------------------------------------------
def run_until_killed(a: AgentProc, kind: str, body: dict, spec: str, point: str, timeout: float = 120,
                     state: str = "online") -> str:
    relaunch(a, spec)
    a.wait_state(state, 60)
    if spec:
        assert f"failpoints active: {spec.split('=')[0]}" in a.new_log()
    r = a.post(f"/api/ops/{kind}", body)
    assert r.status == 202, r.body
    op_id = r.body["op_id"]
    try:
        rc = a.proc.wait(timeout)
    except Exception:
        pytest.fail(f"the agent did not die at {point}: {a.get(f'/api/ops/{op_id}').body}")
    assert rc == -9, f"agent exited {rc}, not by SIGKILL: {a.tail()}"
    assert re.search(rf"failpoint {re.escape(spec.split('=')[0])}: kill", a.new_log()), a.tail()
    return op_id


def short(tx_hash: str) -> str:
    from tray_agent.core.chain.ops.context import short_hash

    return short_hash(tx_hash)


def announced(rec: dict) -> list[tuple[str, str, int]]:
    """(function, short hash, nonce) the operation announced before each broadcast (write-ahead progress)."""
    return [(m.group(1), m.group(2), int(m.group(3)))
            for p in rec.get("progress", []) if (m := HASH_RE.search(p.get("message", "")))]


def op_when_free(a: AgentProc, kind: str, body: dict, timeout: float = 180) -> dict:
    """Start ``kind`` once the runner is free (a resumed operation may hold it), then wait for its end."""
    deadline = time.monotonic() + timeout
    while True:
        r = a.post(f"/api/ops/{kind}", body)
        if r.status == 202:
            return a.wait_op(r.body["op_id"], max(10.0, deadline - time.monotonic()))
        assert r.status == 409 and time.monotonic() < deadline, (kind, r.status, r.body)
        time.sleep(0.5)


def settle_all(a: AgentProc) -> None:
    rec = a.op("settle", {"confirm": True}, timeout=180)
    assert rec["state"] == "done", rec


MATRIX: list[dict] = []  # point × outcome, written to test-output/kill9-money-matrix.md


def note(point: str, kind: str, **outcome) -> None:
    MATRIX.append({"point": point, "op": kind, **outcome})


@pytest.fixture(autouse=True)
def _agent_alive(request):
    """A test that failed between a kill and its relaunch leaves the shared agent dead: start it again, so one
    failure never turns every later test of the module red."""
    if "agent" in request.fixturenames:
        a = request.getfixturevalue("agent")
        if not a.alive():
            relaunch(a, None)
    yield


@pytest.fixture(scope="module")
def agent(module_agent_factory, output_dir):
    # the chain outlives the killed agent, as a real network does: what was mined at the kill is read from it
    a = module_agent_factory("kmoney", extra_env={"LCAI_DEVNET_CHAIN_OUTLIVES_AGENT": "1"}).start()
    a.onboard()
    a.wait_state("online", 60)
    k = Kit(a)
    # the devnet consumer submits no more jobs: every worker transaction in a window is the agent's (or the
    # container finishing what it acknowledged), and the gate never waits for a busy worker
    k.ch.call("anvil_setBalance", [k.book["consumer"]["address"], "0x0"])
    time.sleep(3)
    yield a
    write_matrix(output_dir / "kill9-money-matrix.md", MATRIX)


def fresh_releasable(a: AgentProc, k: Kit, n: int) -> tuple[str, list[int]]:
    addr = a.status()["address"]
    k.advance(61)
    settle_all(a)  # nothing left over from earlier tests
    ids = k.completed_jobs(addr, n)
    k.advance(61)
    return addr, ids


# --- settle ------------------------------------------------------------------------------------------------------
SETTLE_POINTS = [
    # (spec, releaseJobs txs mined at the kill, withdraw mined at the kill)
    ("settle/tx.after_broadcast=kill", 1, False),
    ("settle.between_batches=kill", 1, False),
    ("settle.before_withdraw=kill", 3, False),
    ("settle/tx.after_broadcast=3*off->kill", 3, True),
]


@pytest.mark.parametrize("spec,batches,withdrawn", SETTLE_POINTS, ids=[s[0] for s in SETTLE_POINTS])
def test_kill9_settle(agent, spec, batches, withdrawn):
    a = agent
    k = Kit(a)
    addr, ids = fresh_releasable(a, k, 120)  # 3 batches of ≤ 50
    before = Sheet.take(k, addr)
    op_id = run_until_killed(a, "settle", {"confirm": True}, spec, spec.split("=")[0])
    # at the kill: exactly what the point allows was sent, nothing twice
    sent = [t for t in k.txs_from(addr, before.block) if t["fn"] in ("releaseJobs", "releaseJob", "withdraw")]
    assert [t["fn"] for t in sent] == ["releaseJobs"] * batches + (["withdraw"] if withdrawn else []), sent
    assert all(t["ok"] for t in sent)
    rel = released_to(k, addr, before.block)
    assert set(rel) <= set(ids) and len(rel) == min(120, 50 * batches)
    mid = check_ledger(k, addr, before, released_to_me=sum(rel.values()))
    assert mid.internal == (0 if withdrawn else sum(rel.values()))
    rec = after_relaunch(a, op_id)
    assert "was mined" in rec["error"]["message"] and rec["error"]["fix"].startswith("run it again"), rec["error"]
    ann = announced(rec)
    assert [(h, n) for _, h, n in ann] == [(short(t["hash"]), t["nonce"]) for t in sent], \
        "the stored progress names every sent transaction (before it was sent)"
    # rerun: releases only what is missing, withdraws once, never re-sends a mined batch
    b_mid = k.ch.block()
    settle_all(a)
    again = [t for t in k.txs_from(addr, b_mid) if t["fn"] in ("releaseJobs", "releaseJob", "withdraw")]
    rest = released_to(k, addr, b_mid)
    assert not set(rest) & set(rel), "a job was released twice"
    assert set(ids) <= set(rel) | set(rest)
    assert all(k.client.get_job(j)["state"] == 6 for j in ids)
    want = ["releaseJobs"] * (3 - batches) + ([] if withdrawn else ["withdraw"])
    assert [t["fn"] for t in again] == want, again
    end = check_ledger(k, addr, before, released_to_me=sum(rel.values()) + sum(rest.values()))
    assert end.internal == 0
    note(spec, "settle", sent=f"{batches} releaseJobs" + (" + withdraw" if withdrawn else "") + " (mined)",
         after="interrupted; progress names each sent tx hash, error says which were mined, fix 'run it again: "
         "… sends only what is missing'", rerun=("sends only " + " + ".join(
             f"{want.count(f)} {f}" for f in dict.fromkeys(want))) if want else "sends nothing (all was mined)",
         funds="exact (wei ledger), each job released once")


# --- withdraw and top-up: amount operations (not idempotent by chain state) -----------------------------------
def test_kill9_withdraw_before_broadcast_then_rerun(agent):
    a = agent
    k = Kit(a)
    addr = a.status()["address"]
    before = Sheet.take(k, addr)
    body = {"to": DEAD, "amount": "1", "confirm": True}
    op_id = run_until_killed(a, "withdraw", body, "withdraw/tx.before_broadcast=kill", "withdraw/tx.before_broadcast")
    assert [t for t in k.txs_from(addr, before.block) if t["fn"] == "transfer"] == []
    rec = after_relaunch(a, op_id)
    (fn, _h, n), = announced(rec)
    assert fn == "transfer" and not any(t["nonce"] == n for t in k.txs_from(addr, before.block)), \
        "the announced transfer never reached the chain"
    assert "was not mined" in rec["error"]["message"] and rec["error"]["fix"] == "nothing was sent: run it again", \
        rec["error"]
    check_ledger(k, addr, before)
    rerun = a.op("withdraw", body, timeout=120)
    assert rerun["state"] == "done", rerun
    sent = [t for t in k.txs_from(addr, before.block) if t["fn"] == "transfer"]
    assert len(sent) == 1 and sent[0]["value"] == ETHER and sent[0]["to"].lower() == DEAD.lower()
    end = check_ledger(k, addr, before)
    assert end.dead - before.dead == ETHER
    note("withdraw/tx.before_broadcast=kill", "withdraw", sent="nothing", after="interrupted; error: the transfer <hash> "
         "was not mined, fix 'nothing was sent: run it again'", rerun="one transfer", funds="exact")


@pytest.mark.parametrize("kind,body,spec", [
    ("withdraw", {"to": DEAD, "amount": "1", "confirm": True}, "withdraw/tx.after_broadcast=kill"),
    ("top_up", {"amount": "1", "confirm": True}, "top_up/tx.after_broadcast=kill"),
])
def test_kill9_amount_op_after_broadcast(agent, kind, body, spec):
    """Sent exactly once; the interrupted record names the mined transaction (so nobody sends it again)."""
    a = agent
    k = Kit(a)
    addr = a.status()["address"]
    before = Sheet.take(k, addr)
    op_id = run_until_killed(a, kind, body, spec, spec.split("=")[0])
    fn = "transfer" if kind == "withdraw" else "topUpStake"
    sent = [t for t in k.txs_from(addr, before.block) if t["fn"] == fn]
    assert len(sent) == 1 and sent[0]["ok"] and sent[0]["value"] == ETHER, sent
    rec = after_relaunch(a, op_id)
    (_f, h, n), = announced(rec)
    assert (h, n) == (short(sent[0]["hash"]), sent[0]["nonce"]) and k.mined(sent[0]["hash"]) is True
    text = f"{rec['error'].get('message', '')} {rec['error'].get('fix', '')}"
    assert short(sent[0]["hash"]) in text and "do not send it again" in text, rec["error"]  # checked on chain
    if kind == "withdraw":
        end = check_ledger(k, addr, before)
        assert end.dead - before.dead == ETHER
    else:
        check_ledger(k, addr, before, stake_in=ETHER)  # wallet: exactly value + fee; stake: exactly +1 LCAI
    note(spec, kind, sent=f"one {fn} (mined)", after="interrupted; the error names the mined tx hash: 'it was "
         "mined: do not send it again'", rerun="not rerun: an amount op is not idempotent (a rerun sends a second "
         "one), the record says it already landed", funds="exact (wei ledger)")


# --- set_models, reinstate, clear_stuck -------------------------------------------------------------------------
def test_kill9_set_models_between_txs(agent):
    a = agent
    k = Kit(a)
    addr = a.status()["address"]
    b0 = k.ch.block()
    body = {"models": [MODEL, MODEL2, MODEL3]}
    op_id = run_until_killed(a, "set_models", body, "set_models.between_txs=kill", "set_models.between_txs")
    adds = [t for t in k.txs_from(addr, b0) if t["fn"] == "addSupportedModel"]
    assert len(adds) == 1 and adds[0]["ok"]
    rec = after_relaunch(a, op_id)
    assert "was mined" in rec["error"]["message"] and rec["error"]["fix"].startswith("run it again"), rec["error"]
    rerun = a.op("set_models", body, timeout=180)
    assert rerun["state"] == "done", rerun
    adds = [t for t in k.txs_from(addr, b0) if t["fn"] == "addSupportedModel"]
    assert len(adds) == 2 and all(t["ok"] for t in adds), "each model added exactly once"
    added = sorted(bytes.fromhex(e.args["modelId"].hex() if isinstance(e.args["modelId"], bytes)
                                 else e.args["modelId"][2:]) for e in k.events(k.reg, "ModelAdded", b0))
    assert added == sorted(keccak(text=m) for m in (MODEL2, MODEL3))
    a.wait_state("online", 60)
    assert set(a.status()["served_models"]) >= {MODEL, MODEL2, MODEL3}
    back = a.op("set_models", {"models": [MODEL]}, timeout=180)  # leave the worker as the module found it
    assert back["state"] == "done", back
    note("set_models.between_txs=kill", "set_models", sent="1 of 2 addSupportedModel (mined)",
         after="interrupted; fix 'run it again: … sends only what is missing'",
         rerun="adds only the missing model", funds="gas only")


def test_kill9_reinstate_after_broadcast(agent):
    a = agent
    k = Kit(a)
    addr = a.status()["address"]
    _n, now = k.client.head()
    k.owner_tx(k.reg, "testForceSuspend", addr, now)  # suspended, cooldown already over
    wait_until(lambda: a.status()["suspended_until"] or "suspended" in str(a.status()["alerts"]), 30,
               what="suspension seen")
    b0 = k.ch.block()
    # a suspended worker is a visible error state (issue 13), not "online"
    op_id = run_until_killed(a, "reinstate", {}, "reinstate/tx.after_broadcast=kill", "reinstate/tx.after_broadcast",
                             state="error")
    sent = [t for t in k.txs_from(addr, b0) if t["fn"] == "reinstate"]
    assert len(sent) == 1 and sent[0]["ok"]
    assert not k.client.call(k.reg, "isWorkerSuspended", addr)
    rec = after_relaunch(a, op_id)
    assert [h for _, h, _ in announced(rec)] == [short(sent[0]["hash"])]
    rerun = a.op("reinstate", {}, timeout=60)
    assert [t for t in k.txs_from(addr, b0) if t["fn"] == "reinstate"] == sent, "rerun sent reinstate again"
    assert rerun["state"] == "failed" and "not suspended" in rerun["error"]["message"], rerun
    a.wait_state("online", 60)
    note("reinstate/tx.after_broadcast=kill", "reinstate", sent="reinstate (mined)", after="interrupted + fix",
         rerun="sends nothing: 'not suspended — nothing to do'", funds="gas only")


def test_kill9_clear_stuck_between_jobs(agent):
    a = agent
    k = Kit(a)
    addr = a.status()["address"]
    assert a.op("stop", {}, timeout=120)["state"] == "done"  # a stopped worker acknowledges nothing: jobs get stuck
    mid = keccak(text=MODEL)
    jobs = []
    for _ in range(2):
        res = k.owner_tx(k.jr, "testCreateJob", addr, mid, os.urandom(32), value=k.fee())
        jobs.append(int(res.events(k.jr, "JobSubmitted")[0].args["jobId"]))
    ack = int(k.client.call(k.ai, "getAckTimeout"))
    k.advance(ack + 7200 + 5)  # past the deadline and the no-fault grace
    owner_before = k.ch.balance(k.owner.address)
    b0 = k.ch.block()
    relaunch(a, "clear_stuck.between_jobs=kill")
    r = a.post("/api/ops/clear_stuck", {"allow_slash": False, "confirm": True})
    assert r.status == 202, r.body
    op_id = r.body["op_id"]
    assert a.proc.wait(120) == -9
    assert "failpoint clear_stuck.between_jobs: kill" in a.new_log()
    settled = [t for t in k.txs_from(addr, b0) if t["fn"] == "settleStuckJob"]
    assert len(settled) == 1 and settled[0]["ok"]
    rec = after_relaunch(a, op_id)
    assert "was mined" in rec["error"]["message"] and rec["error"]["fix"].startswith("run it again"), rec["error"]
    rerun = a.op("clear_stuck", {"allow_slash": False, "confirm": True}, timeout=120)
    assert rerun["state"] == "done", rerun
    settled = [t for t in k.txs_from(addr, b0) if t["fn"] == "settleStuckJob"]
    evs = k.events(k.jr, "JobSettledNoFault", b0)
    assert sorted(int(e.args["jobId"]) for e in evs) == sorted(jobs), "each stuck job settled exactly once"
    assert len(settled) == 2
    refunded = sum(int(e.args["refundAmount"]) for e in evs)
    assert refunded == 2 * k.fee()
    claimable = sum(int(e.args["amount"]) for e in k.events(k.jr, "RefundEscrowed", b0)
                    if e.args["recipient"].lower() == k.owner.address.lower())
    assert k.ch.balance(k.owner.address) - owner_before + claimable == refunded  # the payer gets it back, once
    assert a.op("start", {}, timeout=60)["state"] == "done"
    a.wait_state("online", 90)
    note("clear_stuck.between_jobs=kill", "clear_stuck", sent="1 of 2 settleStuckJob (mined)",
         after="interrupted; fix 'run it again: … sends only what is missing'",
         rerun="settles only the other job", funds="each escrow refunded once")


# --- deregister, then register again (onboarding) ------------------------------------------------------------------
def _job_free_with_earnings(a: AgentProc, k: Kit, addr: str) -> int:
    """No active jobs but earnings in the contract: released by a keeper (the owner), not withdrawn."""
    k.advance(61)
    settle_all(a)
    ids = k.completed_jobs(addr, 4)
    k.advance(61)
    k.owner_tx(k.jr, "releaseJobs", ids)
    wait_until(lambda: a.status()["active_jobs"] == 0 and int(a.status()["worker_balance_wei"]) > 0, 30,
               what="job-free with earnings")
    return k.worker_balance(addr)


def test_kill9_deregister_before_withdraw(agent):
    a = agent
    k = Kit(a)
    addr = a.status()["address"]
    earned = _job_free_with_earnings(a, k, addr)
    before = Sheet.take(k, addr)
    op_id = run_until_killed(a, "deregister", {"confirm": True}, "deregister.before_withdraw=kill",
                             "deregister.before_withdraw")
    sent = [t["fn"] for t in k.txs_from(addr, before.block) if t["fn"] in ("deregisterWorker", "withdraw")]
    assert sent == ["deregisterWorker"]
    assert k.stake(addr) == 0 and k.worker_balance(addr) == earned
    relaunch(a, None)
    rec = a.get(f"/api/ops/{op_id}").body
    assert rec["state"] == "interrupted" and rec["error"]["fix"]
    # the agent resumes the deregistration by itself and finishes it: the earnings are withdrawn exactly once
    wait_until(lambda: k.worker_balance(addr) == 0, 120, what="the resumed deregistration to withdraw the earnings")
    resumed = [o for o in a.get("/api/history?kind=deregister&limit=10").body["items"] if o["id"] != op_id]
    assert resumed and resumed[0]["state"] in ("running", "done"), resumed
    # a repeated deregister is then a clear error (nothing left to return), not a silent success
    again = op_when_free(a, "deregister", {"confirm": True})
    assert again["state"] == "failed" and again["error"]["code"] == "not_registered", again
    txs = [t["fn"] for t in k.txs_from(addr, before.block) if t["fn"] in ("deregisterWorker", "withdraw")]
    assert txs == ["deregisterWorker", "withdraw"], txs
    check_ledger(k, addr, before, stake_out=before.stake)
    assert k.worker_balance(addr) == 0, "earnings left in the contract after the deregistration finished"
    note("deregister.before_withdraw=kill", "deregister", sent="deregisterWorker (mined), no withdraw",
         after="interrupted + fix; the persisted schedule resumes it and withdraws the earnings",
         rerun="a second deregister: 'not_registered' error, nothing sent", funds="stake + earnings returned once "
         "(wei ledger)")


def test_kill9_deregister_after_broadcast_then_register_after_broadcast(agent):
    """deregisterWorker mined, agent killed: the stake comes back exactly once and no worker keeps running for an
    unregistered key. Then onboarding again, killed right after registerWorker: staked exactly once."""
    a = agent
    k = Kit(a)
    addr = a.status()["address"]
    if not a.status()["registered"]:  # a failed test above may have left it deregistered
        _reonboard(a)
    k.advance(61)
    settle_all(a)
    wait_until(lambda: a.status()["active_jobs"] == 0, 30, what="job-free")
    before = Sheet.take(k, addr)
    op_id = run_until_killed(a, "deregister", {"confirm": True}, "deregister/tx.after_broadcast=kill",
                             "deregister/tx.after_broadcast")
    sent = [t for t in k.txs_from(addr, before.block) if t["fn"] == "deregisterWorker"]
    assert len(sent) == 1 and sent[0]["ok"] and k.stake(addr) == 0
    relaunch(a, None)
    rec = a.get(f"/api/ops/{op_id}").body
    assert rec["state"] == "interrupted" and rec["error"]["fix"], rec
    assert short(sent[0]["hash"]) in [h for _, h, _ in announced(rec)]
    st = wait_until(lambda: (s := a.status()) and not s["registered"] and not s["container_running"] and s, 180,
                    what="deregistered and the worker stopped")
    # the persisted schedule is due: the agent's own final step finds it done and clears it
    wait_until(lambda: (s := a.status()) and not s["deregister_at"] and not s["operation"], 60,
               what="the resumed deregistration to finish")
    assert st["state"] != "online"
    time.sleep(3)
    again = [t for t in k.txs_from(addr, before.block) if t["fn"] == "deregisterWorker"]
    assert again == sent, "deregisterWorker sent twice"
    check_ledger(k, addr, before, stake_out=before.stake)
    note("deregister/tx.after_broadcast=kill", "deregister", sent="deregisterWorker (mined)",
         after="interrupted + fix; resumed deregistration finds it done; container stays stopped",
         rerun="nothing sent again", funds="stake returned exactly once")

    # onboarding again, killed right after registerWorker was broadcast
    b1 = k.ch.block()
    relaunch(a, "register/tx.after_broadcast=kill")
    r = a.post("/api/onboarding/continue", {})
    assert r.status == 202, r.body
    op2 = r.body["op_id"]
    assert a.proc.wait(120) == -9 and "failpoint register/tx.after_broadcast: kill" in a.new_log()
    regs = [t for t in k.txs_from(addr, b1) if t["fn"] == "registerWorker"]
    assert len(regs) == 1 and regs[0]["ok"] and regs[0]["value"] == before.stake
    relaunch(a, None)
    rec2 = a.get(f"/api/ops/{op2}").body
    assert rec2["state"] == "interrupted" and rec2["error"]["fix"], rec2
    _reonboard(a)
    regs = [t for t in k.txs_from(addr, b1) if t["fn"] == "registerWorker"]
    assert len(regs) == 1, "staked twice"
    assert k.stake(addr) == before.stake
    adds = [t for t in k.txs_from(addr, b1) if t["fn"] == "addSupportedModel"]
    assert len(adds) == 1 and adds[0]["ok"]
    a.wait_state("online", 240)  # re-onboarding starts the container again: slow under the full suite's load
    note("register/tx.after_broadcast=kill", "onboarding (register)", sent="registerWorker (mined)",
         after="interrupted + fix", rerun="'already registered: not staking again', adds the model once",
         funds="staked exactly once")


def _reonboard(a: AgentProc) -> None:
    r = a.post("/api/onboarding/continue", {})
    assert r.status == 202, r.body
    rec = a.wait_op(r.body["op_id"], 180)
    assert rec["state"] == "done", rec
