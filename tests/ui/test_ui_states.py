"""Issue 13 §1 in the browser: every risky state is a banner with the colour of its risk, its date or amount and
its one action; jobs running vs expected, the idle reason and keep-awake. Pages from a real devnet agent with the
status intercepted (tests/ui/mocked_status.py); screenshots state-*.png in every look."""

from __future__ import annotations

import time

import pytest

from tests.ui.mocked_status import LCAI, Mocked, base_status, every_look
from tray_agent.common.status import Alert, Notice, WorkerState

pytestmark = pytest.mark.slow


# --- §1 the status tells the truth: one banner per risky state -------------------------------------------------
NOW = time.time()
BANNERS = {
    "suspended": (dict(state=WorkerState.ERROR, alerts=(Alert.SUSPENDED, Alert.SLASHED), suspended_until=NOW + 3 * 3600,
                       slashed_wei=100 * LCAI, message="Suspended"),
                  Notice("suspended", "error", "Suspended after a slash",
                         "The network sends this worker no jobs until the suspension ends; then reinstate it.",
                         "reinstate", "Reinstate", until=NOW + 3 * 3600), "error", "Reinstate"),
    "slashed": (dict(alerts=(Alert.SLASHED,), slashed_wei=100 * LCAI, stake_wei=4900 * LCAI),
                Notice("slashed", "warning", "Slashed for a job that timed out",
                       "100 LCAI were taken from the stake.", "top_up", "Top up the stake", amount_wei=100 * LCAI),
                "warn", "Top up the stake"),
    "understaked": (dict(alerts=(Alert.UNDERSTAKED,), stake_wei=4900 * LCAI),
                    Notice("understaked", "error", "The stake is below the minimum",
                           "The network does not select a worker below the minimum stake.", "top_up", "Top up 100 LCAI",
                           amount_wei=100 * LCAI), "error", "Top up 100 LCAI"),
    "paused-with-sessions": (dict(state=WorkerState.PAUSED, alerts=(Alert.PAUSED_WITH_SESSIONS,), claimed_sessions=3,
                                  container_running=False, expected_jobs=2),
                             Notice("paused_with_sessions", "warning", "Stopped while 3 sessions still send jobs",
                                    "Their jobs time out and count as offences. Start the worker or deregister.",
                                    "start", "Start the worker"), "warn", "Start the worker"),
    "stuck-jobs": (dict(alerts=(Alert.STUCK_JOBS,), stuck_jobs=2),
                   Notice("stuck_jobs", "warning", "2 stuck jobs are waiting",
                          "They can be cleared without a slash after the no-fault time.", "page:stuck",
                          "Clear stuck jobs…", amount_wei=20 * LCAI, until=NOW + 1800), "warn", "Clear stuck jobs…"),
    "protocol-drift": (dict(alerts=(Alert.PROTOCOL_DRIFT,)),
                       Notice("protocol_drift", "warning", "The network changed its protocol",
                              "The worker image is older than the network expects.", "update_image",
                              "Update the worker"), "warn", "Update the worker"),
    "key-mismatch": (dict(state=WorkerState.ERROR, alerts=(Alert.KEY_MISMATCH,)),
                     Notice("key_mismatch", "error", "The worker container runs another key",
                            "The key in the container is not the key this app keeps.", "page:recover",
                            "Recover key…"), "error", "Recover key…"),
}


@pytest.mark.parametrize("name", list(BANNERS))
def test_banner_for_each_risky_state(browser, real_agent, shots, name):
    """Each state is a banner with the colour of its risk, the date or amount that matters and the one action."""
    fields, notice, css, label = BANNERS[name]
    info = Notice("earnings_ready", "info", "Earnings ready to settle", action="settle", action_label="Settle")
    st = base_status(notices=(notice, info), **fields)
    m = Mocked(browser, real_agent, shots, st)
    page = m.open("dashboard", "#banner-main")
    banner = page.locator("#banner-main")
    assert banner.get_attribute("data-kind") == notice.kind
    assert css in banner.get_attribute("class").split()
    text = banner.inner_text()
    assert notice.title in text
    if notice.until:
        day = time.strftime("%-d", time.localtime(notice.until))
        assert page.locator("#banner-main [data-fact=until]").count() == 1 and day in page.inner_text("[data-fact=until]")
    if notice.amount_wei:
        assert f"{notice.amount_wei // LCAI:,} LCAI" in page.inner_text("#banner-main [data-fact=amount]")
    assert page.inner_text("#banner-action").strip() == label
    assert "Earnings ready to settle" in page.inner_text("ul.notices-more")  # the rest, below the banner
    # the banner's colour differs by risk: error red, warning amber
    colour = page.eval_on_selector("#banner-main", "e => getComputedStyle(e).borderLeftColor")
    other = page.eval_on_selector("#state-pill .pill", "e => getComputedStyle(e).color")
    assert colour and other
    m.close()
    every_look(browser, real_agent, shots, st, "dashboard", f"state-{name}", "#banner-main")


@pytest.mark.parametrize("kind", ["suspended", "slashed", "understaked", "paused_with_sessions", "stuck_jobs"])
def test_agent_made_state_is_a_banner_with_its_fact_and_action(browser, real_agent, shots, kind):
    """The same states as the agent's derive_status makes them (tests/risky_states.py): the state pill, the banner
    in the colour of its risk with the agent's date or amount and its one action; every look saved."""
    from tests.risky_states import risky_states

    st, words = risky_states()[1][kind]
    notice = st.notices[0]
    assert notice.kind == kind
    m = Mocked(browser, real_agent, shots, st.to_dict())
    page = m.open("dashboard", "#banner-main")
    banner = page.locator("#banner-main")
    assert banner.get_attribute("data-kind") == kind
    assert {"error": "error", "warning": "warn"}[notice.level] in banner.get_attribute("class").split()
    assert words in banner.inner_text() or words in page.inner_text("ul.notices-more, #banner-main")
    assert page.inner_text("#banner-action").strip() == notice.action_label
    assert st.state.label in page.inner_text("#state-pill")
    if notice.until:
        assert page.locator("#banner-main [data-fact=until]").count() == 1
    # a suspended or understaked worker's container still runs (no jobs come): it can still be stopped
    assert page.is_disabled("#btn-stop") == (not st.container_running), (kind, st.state)
    m.close()
    every_look(browser, real_agent, shots, st.to_dict(), "dashboard", f"state-agent-{kind.replace('_', '-')}",
               "#banner-main")


def test_banner_action_runs_its_operation(browser, real_agent, shots):
    """The banner's button posts the operation (Reinstate) and the progress line shows LCAI, never wei."""
    notice = BANNERS["suspended"][1]
    st = base_status(state=WorkerState.ERROR, notices=(notice,), suspended_until=notice.until)
    m = Mocked(browser, real_agent, shots, st)
    m.op_progress = [{"message": "claimTimeout (slash 100000000000000000000 wei)", "fraction": 0.5}]
    m.op_result = {"message": "reinstated; paid 5050.000000000000000000 LCAI"}
    page = m.open("dashboard", "#banner-action")
    page.click("#banner-action")
    page.wait_for_function("document.querySelector('#op-progress progress')?.value === 1")
    assert m.posts == [("reinstate", {})]
    text = page.inner_text("#op-progress")
    assert "5,050 LCAI" in text and "000000" not in text
    m.close()


def test_understaked_top_up_asks_what_is_missing(browser, real_agent, shots):
    notice = BANNERS["understaked"][1]
    st = base_status(notices=(notice,), stake_wei=4900 * LCAI, alerts=(Alert.UNDERSTAKED,))
    m = Mocked(browser, real_agent, shots, st)
    page = m.open("dashboard", "#banner-action")
    page.click("#banner-action")
    page.wait_for_selector("[data-testid=topup-dialog]")
    assert page.input_value("#topup-amount") == "100"
    assert "100 LCAI" in page.inner_text("#topup-missing")
    m.shot("state-topup-dialog")
    page.fill("#topup-amount", "abc")
    page.click("#topup-next")
    assert page.get_attribute("#topup-amount", "aria-invalid") == "true"
    page.fill("#topup-amount", "100")
    page.click("#topup-next")
    page.click("#dlg-ok")
    page.wait_for_function("document.querySelector('#op-progress progress')?.value === 1")
    assert m.posts == [("top_up", {"amount": "100", "confirm": True})]
    m.close()


def test_jobs_running_now_vs_expected_and_idle_reason(browser, real_agent, shots):
    """'Jobs running now' is the worker's own count; the chain's expectation is separate; idle time says why."""
    st = base_status(active_jobs=0, expected_jobs=24, last_job_at=time.time() - 11 * 60,
                     idle_reason="no demand for your models on devnet: no job for them in the last 24 h")
    m = Mocked(browser, real_agent, shots, st)
    page = m.open("dashboard", "#idle-reason")
    assert page.inner_text("#active-jobs") == "0"
    assert page.inner_text("#expected-jobs") == "24"
    idle = page.inner_text("#idle-reason")
    assert "No job for 11 min" in idle and "No demand for your models on devnet" in idle
    assert idle.count("No job for") == 1  # the agent gives the reason, the page the time
    m.close()
    every_look(browser, real_agent, shots, st, "dashboard", "state-idle", "#idle-reason")


def test_keep_awake_unavailable_is_shown_with_its_reason(browser, real_agent, shots):
    st = base_status(keep_awake=True, keep_awake_available=False,
                     keep_awake_reason="no graphical session: the system may sleep")
    m = Mocked(browser, real_agent, shots, st)
    page = m.open("dashboard", "#state-pill .pill")
    page.wait_for_function("document.querySelector('#keep-awake').textContent !== '—'")
    assert page.inner_text("#keep-awake") == "Unavailable"
    assert "no graphical session" in page.inner_text("#keep-awake-reason")
    m.close()
    every_look(browser, real_agent, shots, st, "dashboard", "state-keep-awake-unavailable", "#keep-awake-reason")
    # Settings says it once, also for the agent's own "keep-awake unavailable: …" reason
    m = Mocked(browser, real_agent, shots, base_status(
        keep_awake=True, keep_awake_available=False, keep_awake_reason="keep-awake unavailable: no method works"))
    page = m.open("settings", "#keep-awake-note")
    page.wait_for_function("document.querySelector('#keep-awake-note').textContent !== ''")
    assert page.inner_text("#keep-awake-note") == "Keep-awake: unavailable: no method works"
    m.close()
