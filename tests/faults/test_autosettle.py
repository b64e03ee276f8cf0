"""Automatic settle and withdraw on devnet (issue 18 §3), against one real agent (anvil + replicas, private dockerd,
the strict simulated worker): the policy fires at its threshold and not before, skips a fee above its share with
the reason recorded, forwards settled earnings to the one confirmed address (never the stake or the gas reserve),
finishes an automatic settle that a kill -9 interrupted, and never stops the worker while a job runs.

The devnet consumer is kept idle (no balance) until the last test, so every worker transaction in a window is the
agent's; jobs are made with the replica's test hook and the chain clock is advanced past the dispute window.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tests.faults.harness import AgentProc, wait_until
from tests.faults.killpoints import relaunch
from tests.faults.test_kill9_money import Kit, Sheet, check_ledger, op_when_free, released_to
from tests.faults.test_no_offences import _active_jobs, _metrics_port
from tray_agent.common.amounts import format_lcai

pytestmark = [pytest.mark.docker]
ADDR_TO = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"   # EIP-55 test vector
BAD_CASE = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"  # one letter's case changed: checksum wrong


class Hooks:
    """A local webhook receiver (the agent posts Discord-compatible JSON to it)."""

    def __init__(self):
        got = self.got = []

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = HTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_port}/hook"

    def titles(self) -> list[str]:
        return [g["lcai"]["title"] for g in self.got]


@pytest.fixture(scope="module")
def hooks():
    h = Hooks()
    yield h
    h.srv.shutdown()


@pytest.fixture(scope="module")
def agent(module_agent_factory, hooks):
    a = module_agent_factory("autoset", extra_env={"LCAI_DEVNET_CHAIN_OUTLIVES_AGENT": "1"}).start()
    a.onboard()
    a.wait_state("online", 60)
    k = Kit(a)
    k.ch.call("anvil_setBalance", [k.book["consumer"]["address"], "0x0"])  # no consumer jobs until the last test
    assert a.post("/api/settings", {"webhook_url": hooks.url}).status == 200
    time.sleep(3)
    yield a


@pytest.fixture(autouse=True)
def _alive(request):
    if "agent" in request.fixturenames:
        a = request.getfixturevalue("agent")
        if not a.alive():
            relaunch(a, None)
    yield


def policy(a: AgentProc, **body) -> dict:
    r = a.post("/api/autosettle", body)
    assert r.status == 200, r.body
    return r.body


def auto_ops(a: AgentProc, kind: str) -> list[dict]:
    items = a.get(f"/api/history?kind={kind}&limit=200").body["items"]
    return [o for o in items if (o.get("params") or {}).get("origin") == "automatic"]


def settled_clean(a: AgentProc, k: Kit) -> str:
    """Nothing releasable or in the contract: the next jobs are the only earnings."""
    policy(a, enabled=False)
    k.advance(61)
    rec = op_when_free(a, "settle", {"confirm": True})
    assert rec["state"] == "done", rec
    addr = a.status()["address"]
    wait_until(lambda: int(a.status()["releasable_wei"]) == 0 and int(a.status()["worker_balance_wei"]) == 0, 60,
               what="no earnings left")
    return addr


def test_withdraw_address_needs_a_valid_checksum_and_a_confirmation(agent):
    a = agent
    bad = a.post("/api/autosettle/address", {"address": BAD_CASE, "confirm": True})
    assert bad.status == 400 and bad.body["error"]["field"] == "address", bad.body
    assert "checksum" in bad.body["error"]["message"] and bad.body["error"]["fix"]
    own = a.post("/api/autosettle/address", {"address": a.status()["address"], "confirm": True})
    assert own.status == 400 and "own address" in own.body["error"]["message"]
    # without "confirm": the full checksummed address comes back to be shown; nothing is stored
    pre = a.post("/api/autosettle/address", {"address": ADDR_TO.lower()})
    assert pre.status == 200 and pre.body["address"] == ADDR_TO and pre.body["needs_confirmation"]
    assert ADDR_TO in pre.body["text"]
    assert a.get("/api/autosettle").body["withdraw_to"] == ""
    # withdraw cannot be turned on before, and the address cannot be set through the policy
    r = a.post("/api/autosettle", {"withdraw": True})
    assert r.status == 400 and r.body["error"]["field"] == "withdraw"
    r = a.post("/api/autosettle", {"withdraw_to": ADDR_TO})
    assert r.status == 400 and "confirmation" in r.body["error"]["message"]
    # the CLI: a bad checksum is exit 2 with the reason; --yes confirms after printing the address in full
    cli = a.cli("autosettle", "address", BAD_CASE, "--yes")
    assert cli.returncode == 2 and "checksum" in cli.stderr + cli.stdout, (cli.stdout, cli.stderr)
    cli = a.cli("autosettle", "address", ADDR_TO.lower(), "--yes")
    assert cli.returncode == 0 and ADDR_TO in cli.stdout, (cli.stdout, cli.stderr)
    assert a.get("/api/autosettle").body["withdraw_to"] == ADDR_TO
    # a change needs a new confirmation: a preview of another address leaves the confirmed one
    other = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
    pre = a.post("/api/autosettle/address", {"address": other})
    assert pre.body["current"] == ADDR_TO and a.get("/api/autosettle").body["withdraw_to"] == ADDR_TO


def test_fires_at_the_threshold_and_not_before(agent, hooks):
    a = agent
    k = Kit(a)
    addr = settled_clean(a, k)
    share = k.share()
    before_ops = {o["id"] for o in auto_ops(a, "settle")}
    threshold = format_lcai(3 * share, None, grouping=False)
    out = a.cli("autosettle", "on", "--threshold", threshold, "--max-fee-pct", "100", "--withdraw", "off")
    assert out.returncode == 0 and "automatic settle on devnet: on" in out.stdout, (out.stdout, out.stderr)
    ids = k.completed_jobs(addr, 2)
    k.advance(61)
    wait_until(lambda: int(a.status()["releasable_wei"]) == 2 * share, 60, what="2 jobs releasable")
    wait_until(lambda: a.status()["autosettle"].get("state") == "armed", 30, what="policy armed")
    time.sleep(12)  # two more refreshes of the agent (5 s on devnet): one share below the threshold, nothing
    assert {o["id"] for o in auto_ops(a, "settle")} == before_ops, "settled below the threshold"
    assert all(k.client.get_job(j)["state"] != 6 for j in ids)
    b0 = k.ch.block()
    before = Sheet.take(k, addr)
    ids += k.completed_jobs(addr, 1)
    k.advance(61)
    op = wait_until(lambda: [o for o in auto_ops(a, "settle") if o["id"] not in before_ops
                             and o["state"] == "done"], 90, what="an automatic settle")[0]
    assert int(op["result"]["released_wei"]) == 3 * share and int(op["result"]["withdrawn_wei"]) == 3 * share
    assert all(k.client.get_job(j)["state"] == 6 for j in ids)
    assert sorted(released_to(k, addr, b0)) == sorted(ids)
    check_ledger(k, addr, before, released_to_me=3 * share)
    wait_until(lambda: "Automatic settle" in hooks.titles(), 20, what="the webhook post")
    last = a.status()["autosettle"]["last_action"]
    assert last["ok"] and last["kind"] == "settle" and "Released" in last["text"]
    time.sleep(11)
    assert len([o for o in auto_ops(a, "settle") if o["id"] not in before_ops]) == 1, "settled again for nothing"


def test_skips_when_the_fee_is_too_large_a_share_and_says_why(agent):
    a = agent
    k = Kit(a)
    addr = settled_clean(a, k)
    share = k.share()
    policy(a, enabled=True, threshold_lcai=format_lcai(share, None, grouping=False), max_fee_bps=1)
    k.completed_jobs(addr, 1)
    k.advance(61)
    b0 = k.ch.block()
    st = wait_until(lambda: (s := a.status()["autosettle"]).get("state") == "skipped" and s, 60, what="skipped")
    assert "fee" in st["message"] and "0.01 %" in st["message"], st
    skipped = [o for o in auto_ops(a, "settle") if o["state"] == "skipped"]
    assert skipped and skipped[0]["error"]["code"] == "fee_too_high" and "fee" in skipped[0]["error"]["message"]
    time.sleep(6)
    assert not [t for t in k.txs_from(addr, b0)], "a skipped settle sent a transaction"
    assert len([o for o in auto_ops(a, "settle") if o["state"] == "skipped"]) == len(skipped), "recorded per refresh"
    policy(a, max_fee_bps=10000)
    wait_until(lambda: int(a.status()["releasable_wei"]) == 0 and int(a.status()["worker_balance_wei"]) == 0, 60,
               what="settled once the fee share allows it")


def test_forwards_settled_earnings_to_the_confirmed_address_only(agent, hooks):
    a = agent
    k = Kit(a)
    addr = settled_clean(a, k)
    share = k.share()
    assert a.get("/api/autosettle").body["withdraw_to"] == ADDR_TO
    stake0, dest0 = k.stake(addr), k.ch.balance(ADDR_TO)
    policy(a, enabled=True, threshold_lcai=format_lcai(2 * share, None, grouping=False), max_fee_bps=10000,
           withdraw=True)
    k.completed_jobs(addr, 2)
    k.advance(61)
    w = wait_until(lambda: [o for o in auto_ops(a, "withdraw") if o["state"] == "done"], 120,
                   what="an automatic withdraw")[0]
    assert int(w["result"]["amount_wei"]) == 2 * share and w["result"]["to"] == ADDR_TO
    assert k.ch.balance(ADDR_TO) - dest0 == 2 * share, "exactly the settled earnings were forwarded"
    assert k.stake(addr) == stake0, "the stake was touched"
    assert k.ch.balance(addr) >= int(k.client.network.low_gas_wei), "the gas reserve was touched"
    wait_until(lambda: "Automatic withdraw" in hooks.titles(), 20, what="the withdraw webhook")
    time.sleep(6)
    assert len([o for o in auto_ops(a, "withdraw") if o["state"] == "done"]) == 1, "forwarded twice"
    policy(a, withdraw=False)


def test_a_failed_automatic_settle_says_why_and_is_retried(agent, hooks):
    a = agent
    k = Kit(a)
    addr = settled_clean(a, k)
    relaunch(a, "settle.before_withdraw=1*raise(the RPC went away)")  # fails once, then never again
    a.wait_state("online", 60)
    policy(a, enabled=True, threshold_lcai=format_lcai(k.share(), None, grouping=False), max_fee_bps=10000)
    t0 = time.time()
    k.completed_jobs(addr, 2)
    k.advance(61)
    st = wait_until(lambda: (s := a.status()["autosettle"]).get("state") == "retrying" and s, 90, what="retrying")
    assert st["failures"] == 1 and "the RPC went away" in st["last_error"] and "next try" in st["message"].lower()
    assert 50 <= st["next_try_at"] - t0 <= 60 + (time.time() - t0), "the first retry waits about a minute"
    failed = [o for o in auto_ops(a, "settle") if o["state"] == "failed"]
    assert failed and "the RPC went away" in failed[0]["error"]["message"]
    wait_until(lambda: "Automatic settle failed" in hooks.titles(), 20, what="the failure's webhook")
    a.cli("autosettle", "resume")  # the user's "try again now"; otherwise the backoff's minute
    wait_until(lambda: k.worker_balance(addr) == 0 and a.status()["autosettle"]["state"] == "armed", 90,
               what="the retry to finish the settle")
    assert a.status()["autosettle"]["failures"] == 0


def test_kill9_during_an_automatic_settle_loses_nothing_and_the_next_run_finishes_it(agent):
    a = agent
    k = Kit(a)
    addr = settled_clean(a, k)
    policy(a, enabled=True, threshold_lcai=format_lcai(k.share(), None, grouping=False), max_fee_bps=10000)
    relaunch(a, "settle.between_batches=kill")
    a.wait_state("online", 60)
    before = Sheet.take(k, addr)
    ids = k.completed_jobs(addr, 120)  # 3 releaseJobs batches of ≤ 50
    k.advance(61)
    assert a.proc.wait(150) == -9, a.tail()
    assert "failpoint settle.between_batches: kill" in a.new_log()
    first = released_to(k, addr, before.block)
    assert len(first) == 50 and set(first) <= set(ids)
    mid = k.ch.block()
    relaunch(a, None)
    killed = [o for o in auto_ops(a, "settle") if o["state"] == "interrupted"]
    assert killed and killed[0]["error"]["fix"], "the interrupted automatic settle is in the history"
    wait_until(lambda: k.worker_balance(addr) == 0 and all(k.client.get_job(j)["state"] == 6 for j in ids), 180,
               what="the next run to finish the automatic settle")
    rest = released_to(k, addr, mid)
    assert not set(rest) & set(first), "a job was released twice"
    assert set(first) | set(rest) == set(ids)
    check_ledger(k, addr, before, released_to_me=sum(first.values()) + sum(rest.values()))
    # the chain shows the release first; the operation records "done" after its last refresh
    done = wait_until(lambda: [o for o in auto_ops(a, "settle")
                               if o["state"] == "done" and o["started"] > killed[0]["started"]], 60,
                      what="the finishing automatic settle to be recorded as done")
    assert done[-1]["result"]["origin"] == "automatic"


def test_never_stops_the_worker_while_a_job_runs(agent):
    """The consumer sends jobs again; the policy becomes due while one is in flight; the strict simulated worker
    logs every job a stop cancels, and none is."""
    a = agent
    k = Kit(a)
    addr = settled_clean(a, k)
    policy(a, enabled=True, threshold_lcai=format_lcai(k.share(), None, grouping=False), max_fee_bps=10000,
           paused=True)
    k.completed_jobs(addr, 2)
    k.advance(61)
    k.ch.call("anvil_setBalance", [k.book["consumer"]["address"], hex(10**24)])
    port = _metrics_port(a)
    before = {o["id"] for o in auto_ops(a, "settle")}
    wait_until(lambda: _active_jobs(port) > 0, 120, interval=0.05, what="a consumer job in flight")
    policy(a, paused=False)  # due now, with a job running
    shutdowns = "\n".join(a.get("/api/worker/log?lines=5000").body["lines"]).count("shutdown signal received")
    op = wait_until(lambda: [o for o in auto_ops(a, "settle") if o["id"] not in before and o["state"] == "done"], 180,
                    what="the automatic settle")[0]
    assert any("pausing the worker to send" in p["message"] for p in op["progress"]), op["progress"]
    lines = "\n".join(a.get("/api/worker/log?lines=5000").body["lines"])
    assert lines.count("shutdown signal received") > shutdowns, "the worker log does not show the settle's stop"
    assert "cancelling in-flight jobs" not in lines and "job canceled by shutdown" not in lines, \
        "the automatic settle stopped the worker while a job ran"
    k.ch.call("anvil_setBalance", [k.book["consumer"]["address"], "0x0"])
