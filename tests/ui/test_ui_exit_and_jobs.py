"""Issue 17 §5/§6 in the browser: a scheduled deregistration (banner with its date and Cancel, the Leaving panel,
the actions it refuses switched off) and the jobs table (time used against the deadline as a coloured bar *with* the
same in words; timed-out jobs with their slash). Pages come from a real devnet agent; /api/status, /api/jobs and the
operations are intercepted (Playwright routes) so each state can be shown and no money moves.
Screenshots: test-output/screenshots/state-deregister-scheduled-*.png and state-jobs-deadline-*.png."""

from __future__ import annotations

import time

import pytest

from tests.ui.mocked_status import LCAI, SIZES, Mocked, base_status, every_look
from tray_agent.common.status import WorkerState
from tray_agent.core.facts import ChainFacts, Facts, derive_status

pytestmark = pytest.mark.slow


def scheduled_status(at: float) -> dict:
    """The Status the agent derives while a deregistration waits (notices included: derive_status, not hand-made)."""
    st = derive_status(Facts(address="0x" + "ab" * 20, network="devnet", deregister_at=at,
                             runtime={"state": WorkerState.PAUSED, "message": "Paused (deregistering)"},
                             chain=ChainFacts(address="0x" + "ab" * 20, registered=True, stake_wei=5000 * LCAI,
                                              min_stake_wei=5000 * LCAI, wallet_wei=150 * LCAI)))
    return {**base_status(), **st.to_dict()}


def test_scheduled_deregistration_banner_countdown_and_cancel(browser, real_agent, shots):
    at = time.time() + 23 * 3600 + 30 * 60
    m = Mocked(browser, real_agent, shots, scheduled_status(at))
    page = m.open("dashboard", "#banner-main[data-kind=deregistering]")
    banner = page.inner_text("#banner-main")
    assert "Deregistration scheduled for" in banner and "in 23 h 30 min" in banner, banner
    assert page.inner_text("#banner-action") == "Cancel deregistration"
    leaving = page.inner_text("#leaving")
    assert "Deregistration scheduled for" in leaving and "Settle and Withdraw work meanwhile" in leaving
    assert page.locator("#btn-deregister").is_hidden() and page.locator("#btn-cancel-deregister").is_visible()
    for b in ("#btn-start", "#btn-restart", "#btn-topup"):  # the agent refuses these meanwhile: not offered
        assert page.locator(b).is_disabled(), b
    m.op_result = {"cancelled": True, "message": "deregistration cancelled: the worker is running again and keeps its stake"}
    page.click("#btn-cancel-deregister")
    page.wait_for_selector("#op-progress .notice, #op-progress [role=status]")
    assert m.posts == [("cancel_deregister", {})]  # no confirm needed: nothing moves
    m.close()
    every_look(browser, real_agent, shots, scheduled_status(at), "dashboard", "state-deregister-scheduled", "#banner-main")


def test_deregister_that_must_wait_says_when_instead_of_deregistered(browser, real_agent, shots):
    m = Mocked(browser, real_agent, shots, base_status(stake_wei=5000 * LCAI))
    m.op_result = {"scheduled": True, "at": time.time() + 3600 * 5, "chain_at": 0}
    page = m.open("dashboard", "#btn-deregister:not([disabled])")
    page.click("#btn-deregister")
    page.click("#dlg-ok")
    page.wait_for_selector("#dereg-scheduled")
    assert "Deregistration scheduled for" in page.inner_text("#dereg-scheduled")
    assert page.locator("#deregistered").count() == 0 and "Cancel" in page.inner_text("#dereg-scheduled")
    m.close()


JOBS = [
    {"job_id": 101, "state": "Released", "completed_at": 1_790_000_100, "releasable_at": 1_790_000_160,
     "share_wei": str(16 * LCAI // 1000), "acked_at": 1_790_000_088, "deadline": 1_790_000_208, "allowed_s": 120,
     "used_s": 12},
    {"job_id": 102, "state": "Completed", "completed_at": 1_790_000_300, "releasable_at": 1_790_000_360,
     "share_wei": str(16 * LCAI // 1000), "acked_at": 1_790_000_230, "deadline": 1_790_000_350, "allowed_s": 120,
     "used_s": 70},
    {"job_id": 103, "state": "Completed", "completed_at": 1_790_000_500, "releasable_at": 1_790_000_560,
     "share_wei": str(16 * LCAI // 1000), "acked_at": 1_790_000_390, "deadline": 1_790_000_510, "allowed_s": 120,
     "used_s": 110},
    {"job_id": 104, "state": "TimedOut", "timed_out": True, "slash_wei": str(25 * LCAI), "acknowledged": True,
     "deadline": 1_790_000_700, "allowed_s": 120, "completed_at": 0, "releasable_at": None, "share_wei": "0"},
]


def test_jobs_coloured_by_deadline_with_words_and_timed_out_with_slash(browser, real_agent, shots):
    def prepare(mm):
        mm.json_route("**/api/jobs", {"jobs": JOBS})

    m = Mocked(browser, real_agent, shots, base_status())
    prepare(m)
    page = m.open("dashboard", "#jobs tr[data-job='104']")
    rows = {r.get_attribute("data-job"): r for r in page.locator("#jobs tbody tr").all()}
    assert list(rows) == ["104", "103", "102", "101"]  # newest first, the timed-out one by its deadline
    levels = {k: r.locator("td.deadline").get_attribute("data-level") for k, r in rows.items()}
    assert levels == {"101": "ok", "102": "warn", "103": "bad", "104": "timed_out"}, levels
    assert "12 s of 2 min (10%, comfortable)" in rows["101"].inner_text()
    assert "1 min 10 s of 2 min (58%, tight)" in rows["102"].inner_text()
    assert "(92%, close to the deadline)" in rows["103"].inner_text()  # words, not colour alone
    colours = {k: rows[k].locator(".jobmeter > span").evaluate("e => getComputedStyle(e).backgroundColor")
               for k in ("101", "102", "103")}
    assert len(set(colours.values())) == 3, colours  # and the bar's colour differs by level
    assert rows["103"].locator(".jobmeter > span").evaluate("e => e.style.width") == "92%"
    t = rows["104"].inner_text()
    assert "missed the deadline" in t and "slashed 25 LCAI" in t and "accepted, not finished in time" in t
    summary = page.inner_text("#jobs-timed-out")
    assert "1 job missed the deadline" in summary and "25 LCAI slashed in total" in summary
    m.close()
    for size in SIZES.values():
        for scheme in ("light", "dark"):
            m = Mocked(browser, real_agent, shots, base_status(), scheme=scheme, size=size)
            prepare(m)
            page = m.open("dashboard", "#jobs tr[data-job='101']")
            page.eval_on_selector("#jobs", "e => e.scrollIntoView({block: 'center'})")
            page.wait_for_timeout(300)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), size
            m.shot("state-jobs-deadline")
            m.close()


def test_a_long_operation_offers_cancel_while_it_waits(browser, real_agent, shots):
    """§5: a cancellable operation (here Stop, waiting for a running job) shows Cancel beside its progress; Cancel asks
    the agent (POST /api/ops/{id}/cancel) and the page ends the follow when the operation reads cancelled."""
    m = Mocked(browser, real_agent, shots, base_status(claimed_sessions=0))
    m.op_state = "running"
    m.op_progress = [{"i": 0, "t": time.time(), "message": "waiting for 1 running job to finish (up to 5 min)",
                      "fraction": None}]
    cancels: list[str] = []

    def cancel(route):
        cancels.append(route.request.url.rsplit("/", 2)[-2])
        m.op_state = "cancelled"
        return route.fulfill(status=200, content_type="application/json", body='{"ok": true}')

    m.page.route("**/api/ops/*/cancel", cancel)
    page = m.open("dashboard", "#btn-stop:not([disabled])")
    page.click("#btn-stop")
    page.click("#dlg-ok")
    page.wait_for_selector("#op-cancel")
    assert "waiting for 1 running job" in page.inner_text("#op-progress")
    m.shot("state-op-cancel")
    page.click("#op-cancel")
    page.wait_for_function("!document.querySelector('#op-cancel')")  # the follow ended: the box is gone
    assert cancels == ["op-stop"] and m.posts == [("stop", {})]
    m.close()
