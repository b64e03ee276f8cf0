"""Stuck jobs page and CLI (issue 12 §6, contracts §7) against a real devnet agent, anvil with the replica contracts
and Chromium: the no-fault time is sent and shown (countdown from chain time), the no-fault clearing is offered once
open and its outcome is a refund (stuck page and dashboard), and the slash is asked for, with its exact wei, only for
jobs that have no no-fault path (a JobRegistry that refuses settleStuckJob); `lcai-tray clear-stuck` says the same.

The worker is stopped first so the jobs sent to it stay unacknowledged; the devnet consumer keeps running, so the
assertions hold for any extra stuck job it adds."""

from __future__ import annotations

import os
import re

import pytest
from eth_utils import keccak

from tests.harness.agent import MODEL, wait_until

pytestmark = pytest.mark.slow
LCAI = 10**18


class Owner:
    """Test-only writes on the agent's anvil with the devnet owner key (create jobs, switch settleStuckJob)."""

    def __init__(self, agent):
        from tray_agent.core.chain.abi import Contract
        from tray_agent.core.chain.client import ChainClient
        from tray_agent.core.chain.tx import TxSender
        from tray_agent.core.networks import get_network

        book = agent.devnet_book()
        net = get_network("devnet").replace(chain_id=book["chainId"], rpc_url=book["rpc"], simulated=True,
                                            worker_registry=book["WorkerRegistry"], ai_config=book["AIConfig"],
                                            job_registry=book["JobRegistry"])
        self.client = ChainClient(net)
        self.jr = Contract.worker("JobRegistry", book["JobRegistry"], with_replica=True)
        self.reg = Contract.worker("WorkerRegistry", book["WorkerRegistry"], with_replica=True)
        self.tx = TxSender(self.client, bytes.fromhex(book["owner"]["privateKey"].removeprefix("0x")), poll_s=0.02)

    def send(self, fn: str, *args, value: int = 0):
        return self.tx.send(self.jr.address, self.jr.encode(fn, *args), value)

    def stuck_job(self, worker: str) -> int:
        fee = int(self.client.call(self.client.ai_config, "getModelFee", keccak(text=MODEL)))
        res = self.send("testCreateJob", worker, keccak(text=MODEL), os.urandom(32), value=fee)
        return int(res.events(self.jr, "JobSubmitted")[0].args["jobId"])

    def advance(self, seconds: int) -> None:
        self.client.rpc.call("evm_increaseTime", [seconds])
        self.client.rpc.call("evm_mine", [])


@pytest.fixture(scope="module")
def stopped(real_agent):
    """The module's agent onboarded on devnet (registered), then its worker stopped."""
    a = real_agent
    a.onboard()
    a.wait_state("online", 120)
    assert a.op("stop", {}, timeout=180)["state"] == "done"
    a.wait_state("paused", 60)
    return a, Owner(a), a.status()["address"]


@pytest.fixture
def page(browser, stopped):
    a = stopped[0]
    ctx = browser.new_context(viewport={"width": 1024, "height": 720}, bypass_csp=True)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(a.client.login_url("/ui/stuck.html"))
    pg.wait_for_url(re.compile(r"/ui/stuck\.html"))
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors: {errors}"


def _shot(pg, shots_dir, name: str) -> None:
    pg.screenshot(path=str(shots_dir / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def shots_dir(output_dir):
    d = output_dir / "screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _row(pg, job: int):
    return pg.locator(f"#stuck tbody tr[data-job='{job}']")


def test_no_fault_time_countdown_then_refund(stopped, page, shots_dir):
    a, owner, addr = stopped
    ack = int(owner.client.call(owner.client.ai_config, "getAckTimeout"))
    jobs = [owner.stuck_job(addr), owner.stuck_job(addr)]
    owner.advance(ack + 5)
    listing = a.get("/api/stuck").body
    mine = {j["job_id"]: j for j in listing["jobs"] if j["job_id"] in jobs}
    assert set(mine) == set(jobs) and all(j["no_fault"] == "waiting" for j in mine.values()), listing
    assert all(int(j["available_at"]) > listing["chain_now"] for j in mine.values())
    page.goto(page.url)
    page.wait_for_selector(f"#stuck tbody tr[data-job='{jobs[0]}'] .countdown")
    # countdown from chain time: ~2 h (7200 s grace minus the few seconds past the deadline), not from the browser clock
    wait_until(lambda: _row(page, jobs[0]).locator(".countdown").inner_text().startswith("in 1 h 59 min"), 10,
               what="the countdown to the no-fault time")
    assert "(chain time)" in _row(page, jobs[0]).inner_text() and "none" in _row(page, jobs[0]).inner_text()
    assert page.locator("#slash-notice").count() == 0  # no slash is asked for while a no-fault path exists
    assert page.is_disabled("#clear") and "without a penalty yet" in page.inner_text("#clear-note")
    _shot(page, shots_dir, "stuck-1-no-fault-waiting")

    owner.advance(7200)
    page.goto(page.url)
    page.wait_for_selector(f"#stuck tbody tr[data-job='{jobs[0]}'][data-no-fault=open]")
    assert "available now" in _row(page, jobs[1]).inner_text()
    assert "without a penalty" in page.inner_text("#clear")
    _shot(page, shots_dir, "stuck-2-no-fault-open")
    page.click("#clear")
    dlg = page.wait_for_selector("[data-testid=confirm-dialog]")
    text = dlg.inner_text()
    assert "no penalty" in text and re.search(r"Slash\s+none", text), text
    page.click("#dlg-ok")
    page.wait_for_selector("#cleared-card:not([hidden])", timeout=120_000)
    for j in jobs:
        row = page.locator(f"#cleared tbody tr[data-job='{j}']")
        assert "Refunded to the consumer (no fault)" in row.inner_text()
        assert row.locator(".tag.bad").count() == 0
        assert _row(page, j).count() == 0
    _shot(page, shots_dir, "stuck-3-refunded")

    page.goto(page.url.replace("stuck.html", "dashboard.html"))
    page.wait_for_selector("#jobs tbody tr:has-text('Refunded (no fault)')", timeout=30_000)
    for j in jobs:
        tag = page.locator("#jobs tbody tr", has=page.locator(f"td.mono:text-is('{j}')")).locator(".tag")
        assert tag.inner_text() == "Refunded (no fault)" and "bad" not in (tag.get_attribute("class") or "")
    _shot(page, shots_dir, "stuck-4-dashboard-refund")


def test_slash_asked_only_without_a_no_fault_path_page_and_cli(stopped, page, shots_dir):
    a, owner, addr = stopped
    ack = int(owner.client.call(owner.client.ai_config, "getAckTimeout"))
    owner.send("testSetSettleStuckEnabled", False)
    try:
        job = owner.stuck_job(addr)
        owner.advance(ack + 5)
        listing = a.get("/api/stuck").body
        (mine,) = [j for j in listing["jobs"] if j["job_id"] == job]
        assert mine["no_fault"] == "unavailable" and listing["slash_applies"] is True
        total = int(listing["slash_wei_total"])
        assert total == sum(int(j["slash_wei"]) for j in listing["jobs"] if j["no_fault"] == "unavailable") > 0
        page.goto(page.url)
        page.wait_for_selector("#slash-notice")
        assert "not on this network" in _row(page, job).inner_text()
        assert f"exactly {total} wei" in page.inner_text("#slash-notice")
        page.click("#clear")
        page.wait_for_selector("#errors [role=alert]:has-text('only be cleared with a slash')")
        page.check("#allow-slash")
        page.click("#clear")
        dlg = page.wait_for_selector("[data-testid=confirm-dialog]")
        assert f"({total} wei)" in dlg.inner_text()
        _shot(page, shots_dir, "stuck-5-slash-confirm")
        page.click("#dlg-cancel")

        # CLI: without --allow-slash the job stays stuck (non-zero exit) and the exact slash is printed
        r = a.cli("clear-stuck", "--yes")
        assert "only claimTimeout clears it" in r.stdout and f"({mine['slash_wei']} wei)" in r.stdout, r.stdout
        assert "add --allow-slash" in r.stdout and r.returncode != 0, (r.returncode, r.stdout, r.stderr)
        assert owner.client.get_job(job)["state"] == 0  # still Submitted: nothing was sent
        stake0 = int(owner.client.call(owner.reg, "getWorkerStake", addr))
        r = a.cli("clear-stuck", "--allow-slash", "--yes", timeout=180)
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert f"job {job}: timed out with claimTimeout" in r.stdout, r.stdout
        assert stake0 - int(owner.client.call(owner.reg, "getWorkerStake", addr)) == total  # exactly what was shown
    finally:
        owner.send("testSetSettleStuckEnabled", True)
    page.goto(page.url)
    page.wait_for_selector(f"#cleared tbody tr[data-job='{job}']")
    row = page.locator(f"#cleared tbody tr[data-job='{job}']")
    assert "Timed out (slashed)" in row.inner_text() and row.locator(".tag.bad").count() == 1
    _shot(page, shots_dir, "stuck-6-slashed")


def test_deregister_asks_for_the_slash_instead_of_spinning(stopped):
    """§6: on a chain without the no-fault path, Deregister stops with the exact slash to accept (code needs_slash),
    it does not wait forever for a window that never opens; nothing is slashed without the user's consent."""
    a, owner, addr = stopped
    ack = int(owner.client.call(owner.client.ai_config, "getAckTimeout"))
    owner.send("testSetSettleStuckEnabled", False)
    try:
        job = owner.stuck_job(addr)
        owner.advance(ack + 5)
        stake0 = int(owner.client.call(owner.reg, "getWorkerStake", addr))
        rec = a.op("deregister", {"confirm": True}, timeout=240)
    finally:
        owner.send("testSetSettleStuckEnabled", True)
    assert rec["state"] == "failed" and rec["error"]["code"] == "needs_slash", rec
    assert "slashes" in rec["error"]["message"] and "allow slash" in rec["error"]["fix"], rec["error"]
    assert owner.client.get_job(job)["state"] == 0 and int(owner.client.call(owner.reg, "getWorkerStake", addr)) == stake0
    assert a.status()["registered"] is True
