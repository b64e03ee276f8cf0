"""Issue 13 in the browser: every state the dashboard must tell (banner from notices, jobs, idle reason, keep-awake),
Stop / Deregister / Replace key / Top up as finished paths, money in the one LCAI format, the chart agreeing with the
table, and the onboarding fixes.

The pages come from a real devnet agent (login, static files, the API), but until the agent fills the new status
fields for each state (notices, expected_jobs, claimed_sessions, idle_reason, …) these tests *intercept* /api/status
and /api/events with Playwright (page.route) and serve a Status built with tray_agent.common.status for each state;
operations are intercepted too, so no money moves. tests/ui/test_ui_pages.py keeps the tests against the real agent.
Screenshots: test-output/screenshots/state-*.png at 1280×800 and 800×600, light and dark.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tray_agent.common.amounts import format_lcai
from tray_agent.common.status import Alert, Notice, Status, WorkerState

pytestmark = pytest.mark.slow
LCAI = 10**18
SIZES = {"1280x800": (1280, 800), "800x600": (800, 600)}
ADDR = "0x" + "ab" * 20




@pytest.fixture(scope="module")
def shots(output_dir):
    d = output_dir / "screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d


def base_status(**kw) -> dict:
    """A registered, online devnet worker; `kw` changes fields (Status field names)."""
    fields = dict(state=WorkerState.ONLINE, network="devnet", address=ADDR, registered=True, served_models=("llama3-8b",),
                  stake_wei=5000 * LCAI, min_stake_wei=5000 * LCAI, wallet_wei=150 * LCAI + 52 * LCAI // 100,
                  escrowed_wei=3 * LCAI, releasable_wei=96 * LCAI // 1000, container_running=True, gateway_connected=True,
                  keep_awake=True, uptime_s=3600, last_job_at=time.time() - 30)
    fields.update(kw)
    return Status(**fields).to_dict()


class Mocked:
    """A logged-in page whose /api/status, /api/events (and optionally other routes) are intercepted."""

    def __init__(self, browser, agent, shots, status: dict, scheme="light", size=(1280, 800)):
        self.client, self.shots, self.size, self.scheme = agent.client, shots, size, scheme
        self.status = status
        self.posts: list[tuple[str, dict]] = []
        self.op_result: dict = {}
        self.op_progress: list = []
        self.op_state = "done"
        # bypass_csp: Playwright's string predicates (wait_for_function) are evaluated with eval, which our CSP
        # refuses; the CSP itself is checked in tests/api/test_preflight_api.py with every page loaded under it
        self.ctx = browser.new_context(viewport={"width": size[0], "height": size[1]}, color_scheme=scheme,
                                       bypass_csp=True)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/api/status", lambda r: r.fulfill(status=200, content_type="application/json",
                                                             body=json.dumps(self.status)))
        # live events: an EventSource stand-in that stays open and delivers the mocked status once
        self.ctx.add_init_script("""
          window.EventSource = class { constructor() { this.l = {}; window.__es = this; setTimeout(async () => {
              this.onopen && this.onopen();
              const s = await (await fetch('/api/status', {credentials: 'same-origin'})).text();
              (this.l.status || []).forEach((f) => f({ data: s })); }, 50); }
            addEventListener(k, f) { (this.l[k] = this.l[k] || []).push(f); } close() {} };
        """)
        self.page.route(re.compile(r".*/api/ops/[a-z_-]+$"), self._op)
        self.page.goto(self.client.login_url("/ui/dashboard.html"))
        self.page.wait_for_url(re.compile(r"/ui/dashboard\.html"))

    def _op(self, route):
        req = route.request
        kind = req.url.rsplit("/", 1)[-1]
        if req.method == "POST":
            self.posts.append((kind, json.loads(req.post_data or "{}")))
            return route.fulfill(status=202, content_type="application/json", body=json.dumps({"op_id": f"op-{kind}"}))
        op_kind = kind.removeprefix("op-")
        return route.fulfill(status=200, content_type="application/json", body=json.dumps(
            {"op_id": kind, "kind": op_kind, "state": self.op_state, "progress": self.op_progress, "result": self.op_result}))

    def push_status(self) -> None:
        """Deliver the current (mocked) status as a live event, as the agent does after an operation."""
        self.page.evaluate("""async () => { const s = await (await fetch('/api/status')).text();
                                            (window.__es.l.status || []).forEach((f) => f({ data: s })); }""")

    def json_route(self, pattern: str, data: dict) -> None:
        self.page.route(pattern, lambda r: r.fulfill(status=200, content_type="application/json", body=json.dumps(data)))

    def open(self, name: str, wait: str = "header.top nav"):
        self.page.goto(f"{self.client.base_url}/ui/{name}.html")
        self.page.wait_for_selector(wait)
        return self.page

    def shot(self, name: str) -> None:
        w, h = self.size
        self.page.screenshot(path=str(self.shots / f"{name}-{w}x{h}-{self.scheme}.png"), full_page=False)

    def close(self) -> None:
        assert not self.errors, f"JavaScript errors: {self.errors}"
        self.ctx.close()


def every_look(browser, real_agent, shots, status: dict, page_name: str, shot_name: str, wait: str, prepare=None):
    """Open `page_name` with `status` at both sizes in light and dark and save a screenshot of each."""
    for size_name, size in SIZES.items():
        for scheme in ("light", "dark"):
            m = Mocked(browser, real_agent, shots, status, scheme=scheme, size=size)
            if prepare:
                prepare(m)
            page = m.open(page_name, wait)
            # one in-page call: the dashboard may re-render the banner between a locate and a scroll
            page.eval_on_selector(wait, "e => e.scrollIntoView({block: 'nearest'})")
            page.wait_for_timeout(300)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (shot_name, size_name)
            m.shot(shot_name)
            m.close()


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


# --- §2 Stop and key replacement ------------------------------------------------------------------------------------
def test_stop_confirms_the_consequence_and_points_to_deregister(browser, real_agent, shots):
    st = base_status(claimed_sessions=3, active_jobs=1)
    m = Mocked(browser, real_agent, shots, st)
    page = m.open("dashboard", "#btn-stop:not([disabled])")
    page.click("#btn-stop")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    text = page.inner_text("[data-testid=confirm-dialog]")
    assert "3 claimed sessions" in text and "time out" in text and "offences" in text
    assert page.locator("#dlg-to-deregister").count() == 1
    m.shot("state-stop-confirm")
    page.click("#dlg-cancel")
    assert m.posts == []  # cancelled: nothing stopped
    page.click("#btn-stop")
    page.click("#dlg-ok")
    page.wait_for_function("document.querySelector('#op-progress progress')?.value === 1")
    assert m.posts == [("stop", {})]
    m.close()
    # registered with no session counted yet: the network still sends jobs, so the warning stays
    m = Mocked(browser, real_agent, shots, base_status(claimed_sessions=0))
    page = m.open("dashboard", "#btn-stop:not([disabled])")
    page.click("#btn-stop")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    text = page.inner_text("[data-testid=confirm-dialog]")
    assert "keeps sending jobs" in text and "offences" in text and page.inner_text("#dlg-ok") == "Stop anyway"
    # the tray's Stop opens this page on the question (dashboard.html?confirm=stop); nothing is posted before a yes
    page.goto(f"{m.client.base_url}/ui/dashboard.html?confirm=stop")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    assert "offences" in page.inner_text("[data-testid=confirm-dialog]") and m.posts == []
    m.close()
    for size in SIZES.values():
        for scheme in ("light", "dark"):
            m = Mocked(browser, real_agent, shots, st, scheme=scheme, size=size)
            page = m.open("dashboard", "#btn-stop:not([disabled])")
            page.click("#btn-stop")
            page.wait_for_selector("[data-testid=confirm-dialog]")
            m.shot("state-stop-confirm")
            m.close()


def test_replace_worker_key_explains_the_old_stake(browser, real_agent, shots):
    st = base_status(stake_wei=4200 * LCAI)
    m = Mocked(browser, real_agent, shots, st)
    page = m.open("settings", "#replace-key")
    page.wait_for_timeout(300)
    page.click("#replace-key")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    text = page.inner_text("[data-testid=confirm-dialog]")
    assert "4,200 LCAI" in text and "stays with the old key" in text and "Recover key" in text
    assert page.locator("#dlg-ok").is_disabled()  # staked: an explicit acknowledgement first
    for size in SIZES.values():
        m.page.set_viewport_size({"width": size[0], "height": size[1]})
        m.size = size
        m.shot("state-replace-key-confirm")
    page.check("#replace-ack")
    page.click("#dlg-ok")
    page.wait_for_function("document.querySelector('#op-progress progress')?.value === 1")
    assert m.posts == [("replace_key", {"confirm": True})]
    # "Remove the worker container" says the same about the stake (it used to say only "Keys: kept in the archive")
    page.click("#remove")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    text = page.inner_text("[data-testid=confirm-dialog]")
    assert "4,200 LCAI" in text and "stays with it" in text and "Deregister first" in text
    page.click("#dlg-cancel")
    assert len(m.posts) == 1
    m.close()


# --- §3 exit ends with the money in the user's hands ------------------------------------------------------------------
AFTER_DEREGISTER = base_status(registered=False, stake_wei=0, wallet_wei=4350 * LCAI + 52 * LCAI // 100,
                               state=WorkerState.SETUP_NEEDED, message="Finish setup to start the worker",
                               releasable_wei=0, escrowed_wei=0)


def test_deregister_from_the_dashboard_shows_amounts_and_leads_to_withdraw(browser, real_agent, shots):
    st = base_status(stake_wei=4200 * LCAI)
    m = Mocked(browser, real_agent, shots, st)
    m.op_result = {"stake_returned_wei": str(4200 * LCAI), "withdrawn_wei": str(15052 * LCAI // 100),
                   "tx_hashes": ["0x" + "1" * 64], "next": "withdraw the returned stake to your own wallet"}
    page = m.open("dashboard", "#btn-deregister:not([disabled])")
    assert page.locator("#leaving").is_visible()
    page.click("#btn-deregister")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    assert "4,200 LCAI" in page.inner_text("[data-testid=confirm-dialog]")
    m.status = AFTER_DEREGISTER
    page.click("#dlg-ok")
    page.wait_for_selector("#deregistered")
    assert m.posts == [("deregister", {"confirm": True})]
    assert page.inner_text("#dereg-stake") == "4,200 LCAI" and page.inner_text("#dereg-earnings") == "150.52 LCAI"
    assert page.get_attribute("#go-withdraw", "href") == "withdraw.html"
    m.json_route("**/api/history?kind=deregister*", {"items": [{"kind": "deregister", "network": "devnet", "state": "done",
                                                                  "result": m.op_result}]})
    page.reload()
    page.wait_for_selector("#state-pill .pill")
    page.wait_for_function("document.querySelector('#btn-deregister').disabled")
    for b in ("#btn-deregister", "#btn-settle", "#btn-stop", "#btn-topup"):
        assert page.locator(b).is_disabled(), b
    assert "4,350.52 LCAI" in page.inner_text("#leaving")
    assert "4,350.52 LCAI" in page.inner_text("#not-registered")  # not "Finish setup": the money comes first
    assert page.get_attribute("#withdraw-now", "href") == "withdraw.html"
    assert "4,200 LCAI came back" in page.inner_text("#not-registered") and "Finish setup" not in page.inner_text("#state-msg")
    m.close()

    def prepare(mm):
        mm.json_route("**/api/history?kind=deregister*", {"items": [{"kind": "deregister", "network": "devnet",
                                                                       "state": "done", "result": m.op_result}]})

    every_look(browser, real_agent, shots, m.status, "dashboard", "state-after-deregister", "#not-registered", prepare=prepare)
    # before the first registration (funding under way) the dashboard leads back to setup, not to Withdraw
    first = base_status(registered=False, stake_wei=0, wallet_wei=20 * LCAI, state=WorkerState.SETUP_NEEDED,
                        message="Finish setup to start the worker")
    m = Mocked(browser, real_agent, shots, first)
    m.json_route("**/api/history?kind=deregister*", {"items": []})
    page = m.open("dashboard", "#continue-setup")
    page.wait_for_timeout(300)
    assert page.locator("#not-registered").count() == 0
    m.close()


def test_deregister_on_the_dashboard_in_every_registered_state(browser, real_agent, shots):
    """§3: Deregister is on the dashboard (not only in Settings) whatever the worker does while it is registered."""
    m = Mocked(browser, real_agent, shots, base_status())
    page = m.open("dashboard", "#btn-deregister:not([disabled])")
    for state in WorkerState:
        m.status = base_status(state=state, stake_wei=4200 * LCAI)
        m.push_status()
        page.wait_for_selector(f"#state-pill .pill[data-state={state.value}]")
        assert page.locator("#btn-deregister").is_visible() and page.locator("#btn-deregister").is_enabled(), state
    m.close()


def test_deregister_result_screens(browser, real_agent, shots):
    """The result box itself, at both sizes and schemes."""
    for size in SIZES.values():
        for scheme in ("light", "dark"):
            m = Mocked(browser, real_agent, shots, base_status(stake_wei=4200 * LCAI), scheme=scheme, size=size)
            m.op_result = {"stake_returned_wei": str(4200 * LCAI), "withdrawn_wei": str(15052 * LCAI // 100)}
            page = m.open("dashboard", "#btn-deregister:not([disabled])")
            page.click("#btn-deregister")
            m.status = AFTER_DEREGISTER  # what the agent reports once the stake is back: the shot shows that state
            page.click("#dlg-ok")
            page.wait_for_selector("#deregistered")
            m.push_status()
            page.wait_for_function("document.querySelector('#btn-deregister').disabled")
            # said once: no second "Deregistered" box with a second Withdraw button, and never "Finish setup"
            assert page.locator("#not-registered").count() == 0 and page.inner_text("#state-msg").strip() == ""
            assert page.locator("#go-withdraw").is_visible()
            page.locator("#deregistered").scroll_into_view_if_needed()
            m.shot("state-deregistered-result")
            m.close()


# --- §6 money -------------------------------------------------------------------------------------------------------
def test_money_one_format_settle_is_exact(browser, real_agent, shots):
    st = base_status(releasable_wei=96 * LCAI // 1000, worker_balance_wei=0)
    m = Mocked(browser, real_agent, shots, st)
    page = m.open("dashboard", "#state-pill .pill")
    page.wait_for_function("document.querySelector('#btn-settle').textContent.includes('LCAI')")
    assert page.inner_text("#btn-settle") == "Settle 0.096 LCAI"
    # one rule: the page's formatter gives what the CLI and the tray print (common.amounts.format_lcai)
    values = [0, 1, 96 * LCAI // 1000, 21_000 * 10**9, 123 * 10**9, 2_123_456 * 10**10, 12_345_678 * 10**10, LCAI,
              1234 * LCAI + 9099 * 10**14 + 1, 4350 * LCAI + 52 * LCAI // 100, 12_345 * LCAI + 1, -15 * 10**17]
    js = page.evaluate("async (ws) => { const m = await import('/ui/app.js'); return ws.map((w) => m.lcaiNumber(w)); }",
                       [str(v) for v in values])
    assert js == [format_lcai(v) for v in values], list(zip(values, js, strict=False))
    assert page.locator("#row-credited").is_hidden()  # always 0 in practice: folded away
    body = page.inner_text("main")
    assert not re.search(r"\d\.\d{5,} LCAI", body.replace("0.0000", "")), "no long decimal tails"
    m.close()
    m = Mocked(browser, real_agent, shots, base_status(releasable_wei=0, worker_balance_wei=0))
    page = m.open("dashboard", "#state-pill .pill")
    page.wait_for_function("document.querySelector('#btn-settle').title !== ''")
    assert page.locator("#btn-settle").is_disabled()  # nothing to settle: the worker is not paused for nothing
    m.close()
    m = Mocked(browser, real_agent, shots, base_status(worker_balance_wei=2 * LCAI))
    page = m.open("dashboard", "#state-pill .pill")
    page.wait_for_function("!document.querySelector('#row-credited').hidden")
    assert "Settle pays them out" in page.inner_text("#row-credited")
    m.close()


def test_chart_and_table_agree(browser, real_agent, shots):
    """Series named by what they are, a LCAI axis, legend values without hovering that equal the table."""
    st = base_status(escrowed_wei=3 * LCAI, releasable_wei=96 * LCAI // 1000, wallet_wei=150 * LCAI + 52 * LCAI // 100)
    t0 = time.time() - 3600
    series = [{"t": t0 + i * 600, "stake_wei": st["stake_wei"], "escrowed_wei": str(i * LCAI // 2),
               "releasable_wei": str(i * 16 * LCAI // 1000), "worker_balance_wei": "0", "wallet_wei": str(100 * LCAI + i * 10 * LCAI),
               "withdrawn_wei": str(i * 5 * LCAI)} for i in range(6)]
    series.append({**series[-1], "t": t0 + 3700, "escrowed_wei": st["escrowed_wei"], "releasable_wei": st["releasable_wei"],
                   "wallet_wei": st["wallet_wei"]})
    totals = {"withdrawn_wei": str(4350 * LCAI + 52 * LCAI // 100), "earned_wei": str(4500 * LCAI),
              "settled_wei": series[-1]["withdrawn_wei"], "slashed_wei": str(100 * LCAI)}

    def prepare(m):
        m.json_route("**/api/earnings", {"series": series, "totals": totals})

    m = Mocked(browser, real_agent, shots, st)
    prepare(m)
    page = m.open("dashboard", "#chart canvas")
    page.wait_for_selector("#chart-legend li")
    legend = {li.get_attribute("data-series"): li.inner_text() for li in page.locator("#chart-legend li").all()}
    assert page.inner_text("#b-escrowed") in legend["escrowed_wei"] and "Escrowed" in legend["escrowed_wei"]
    assert page.inner_text("#b-releasable") in legend["releasable_wei"]
    assert page.inner_text("#b-wallet") in legend["wallet_wei"]
    assert "Settled so far" in legend["withdrawn_wei"] and "Withdrawn" not in legend["withdrawn_wei"]
    assert "LCAI" in page.inner_text("#chart-h") and page.locator("#chart .u-axis").count() >= 2
    assert page.inner_text("#t-withdrawn") == "4,350.52 LCAI" and page.inner_text("#t-earned") == "4,500 LCAI"
    assert page.inner_text("#t-settled") == "25 LCAI" and page.inner_text("#t-slashed") == "100 LCAI"
    assert page.inner_text("#t-settled") in legend["withdrawn_wei"]  # the chart's settled line ends at the total
    m.close()
    every_look(browser, real_agent, shots, st, "dashboard", "state-chart", "#chart canvas", prepare=prepare)


# --- §5 onboarding ------------------------------------------------------------------------------------------------------
def test_onboarding_preselects_the_agents_network_and_has_back_on_every_step(browser, real_agent, shots):
    """Against the real devnet agent: devnet is preselected (one Continue never switches networks); Back works."""
    m = Mocked(browser, real_agent, shots, base_status(state=WorkerState.SETUP_NEEDED, registered=False))
    page = m.open("onboarding", "form input[name=network]")
    assert real_agent.client.get("/api/onboarding")["network"] == "devnet"
    assert page.is_checked("input[name=network][value=devnet]")
    assert not page.is_checked("input[name=network][value=testnet]")
    assert page.locator("#back").count() == 1
    m.shot("onboarding-network")
    page.click("#next")
    page.wait_for_selector("[data-verdict]")
    assert page.inner_text("#steps li[aria-current=step]").endswith("Hardware check")
    assert real_agent.client.get("/api/onboarding")["network"] == "devnet"
    labels = [t.strip() for t in page.locator("#hw-checks th[scope=row], table tbody th[scope=row]").all_inner_texts()]
    assert "CPU cores" in labels and "Memory (total)" in labels and not any("_" in x for x in labels)
    assert " GB" not in page.inner_text("table") and "GiB" in page.inner_text("table")
    m.shot("onboarding-hardware")
    page.click("#back")
    page.wait_for_selector("form input[name=network]")
    assert page.is_checked("input[name=network][value=devnet]")
    page.click("#next")
    page.wait_for_selector("[data-verdict]")
    page.click("#next")
    page.wait_for_selector(".model-list input[type=checkbox]")
    page.click("#back")
    page.wait_for_selector("[data-verdict]")
    page.click("#next")
    page.wait_for_selector(".model-list input[type=checkbox]")
    assert page.locator("#back").count() == 1
    m.close()


def test_onboarding_back_on_the_password_and_funding_steps(browser, real_agent, shots):
    """§5: the steps the real-agent test above does not reach have Back too (the agent's step is mocked)."""
    steps = ["network", "hardware", "models", "password", "key", "funding", "models_ready", "registered", "container", "online"]
    m = Mocked(browser, real_agent, shots, base_status(state=WorkerState.SETUP_NEEDED, registered=False))
    ob = {"steps": steps, "done": False, "network": "devnet", "network_confirmed": True, "models": ["llama3-8b"]}
    m.json_route("**/api/onboarding", {**ob, "step": "password", "address": ""})
    page = m.open("onboarding", "#gen")
    page.click("#back")  # one step back: the models (the agent keeps what was chosen)
    page.wait_for_selector(".model-list input[type=checkbox]")
    m.close()
    m = Mocked(browser, real_agent, shots, base_status(state=WorkerState.SETUP_NEEDED, registered=False))
    m.json_route("**/api/onboarding", {**ob, "step": "funding", "address": ADDR, "funding": {
        "address": ADDR, "threshold_wei": str(5050 * LCAI), "balance_wei": "0", "funded": False}})
    page = m.open("onboarding", "#funding")
    assert page.locator("#back").count() == 1
    page.click("#back")  # the key exists (its password is set): Back goes to the models
    page.wait_for_selector(".model-list input[type=checkbox]")
    m.close()


def test_onboarding_models_errors_are_sentences_and_a_set_that_does_not_fit_is_blocked(browser, real_agent, shots):
    m = Mocked(browser, real_agent, shots, base_status(state=WorkerState.SETUP_NEEDED, registered=False))
    verdict = {"verdict": "fits"}
    m.page.route("**/api/models/fit", lambda r: r.fulfill(status=200, content_type="application/json", body=json.dumps(
        {"verdict": verdict["verdict"], "required_bytes": 40 * 2**30, "available_bytes": 16 * 2**30, "usable_bytes": 14 * 2**30,
         "drop": ["llama3-70b"] if verdict["verdict"] == "wont_fit" else [], "message": ""})))
    page = m.open("onboarding", "#panel form")
    client = real_agent.client
    step = client.get("/api/onboarding")["step"]
    if step == "network":
        page.click("#next")
    if step in ("network", "hardware"):  # through the hardware check (the agent may already be past it)
        page.wait_for_selector("[data-verdict]")
        page.click("#next")
    page.wait_for_selector(".model-list input[type=checkbox]")
    boxes = page.locator(".model-list input[type=checkbox]")
    for i in range(boxes.count()):
        boxes.nth(i).uncheck()
    page.click("#next")
    page.wait_for_selector("#errors .notice.error")
    err = page.locator("#errors .notice.error")
    assert err.locator("strong").inner_text() == "Choose at least one model to serve."
    assert "non-empty list" not in err.inner_text() and "e.g." not in err.inner_text()
    assert err.locator("details").count() == 1 and not err.locator("details").get_attribute("open") is not None
    assert "code:" not in err.locator("strong").inner_text()
    assert page.get_attribute(".model-list", "aria-invalid") == "true"
    m.shot("onboarding-models-error")
    # a set that does not fit: Continue is blocked
    verdict["verdict"] = "wont_fit"
    boxes.nth(0).check()
    page.wait_for_selector("#fit-blocked")
    assert page.locator("#next").is_disabled()
    m.shot("onboarding-models-wont-fit")
    # a tight set: Continue asks for an explicit yes first
    verdict["verdict"] = "tight"
    boxes.nth(0).uncheck()
    boxes.nth(0).check()
    page.wait_for_selector("#fit-ack")
    page.click("#next")
    page.wait_for_selector("#errors .notice.error")
    assert page.get_attribute("#fit-ack", "aria-invalid") == "true"
    assert client.get("/api/onboarding")["step"] == "models"  # nothing was saved
    m.close()


def _auto_onboarding(m, step="registered"):
    steps = ["network", "hardware", "models", "password", "key", "funding", "models_ready", "registered", "container", "online"]
    m.json_route("**/api/onboarding", {"step": step, "steps": steps, "done": False, "network": "devnet", "network_confirmed": True,
                                       "models": ["llama3-8b"], "address": ADDR, "op_id": "op-onboarding",
                                       "funding": {"address": ADDR, "threshold_wei": str(5050 * LCAI), "balance_wei": str(5150 * LCAI),
                                                   "funded": True}})
    m.op_state = "running"
    m.op_progress = [{"message": "registering with stake 5000000000000000000000 wei", "fraction": 0.6}]


def test_onboarding_one_progress_display_on_one_row(browser, real_agent, shots):
    """The ten steps are one row of pills at 1280 px; the automatic steps do not repeat them as a checklist."""
    for size in SIZES.values():
        for scheme in ("light", "dark"):
            m = Mocked(browser, real_agent, shots, base_status(state=WorkerState.SETUP_NEEDED), scheme=scheme, size=size)
            _auto_onboarding(m)
            page = m.open("onboarding", "#auto-steps")
            page.wait_for_function("document.querySelector('#auto-msg').textContent.includes('LCAI')")
            tops = page.eval_on_selector_all("#steps li", "ls => ls.map(l => l.getBoundingClientRect().top)")
            assert len(tops) == 10
            if size[0] >= 1280:
                assert len(set(tops)) == 1, tops
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
            assert page.locator("ul.progress").count() == 0  # no second checklist
            assert "5,000 LCAI" in page.inner_text("#auto-msg") and "wei" not in page.inner_text("#auto-msg")
            assert "Step 8 of 10" in page.inner_text("#step-now")
            assert page.locator("#back").count() == 1
            m.shot("onboarding-automatic")
            m.close()


# --- §6/§7 words and units on the other pages ------------------------------------------------------------------------
def test_withdraw_reserve_error_is_a_sentence_without_force(browser, real_agent, shots):
    """The agent's fix says 'or force it'; the UI has no force option, so it must not say so."""
    m = Mocked(browser, real_agent, shots, base_status())
    m.json_route("**/api/withdraw/preview*", {"ok": False, "error": {
        "code": "invalid_input", "field": "amount",
        "message": "this would leave less than 50 LCAI for gas while the worker is registered",
        "fix": "send at most 100.52 LCAI, or force it"}})
    page = m.open("withdraw", "#to")
    page.fill("#to", "0x" + "11" * 20)
    page.fill("#amount", "150")
    page.wait_for_selector("#amount-msg.bad")
    text = page.inner_text("#amount-msg")
    assert "force" not in text and text.startswith("This would leave") and "press Max" in text
    assert page.get_attribute("#amount", "aria-invalid") == "true"
    m.close()


def test_plural_forms_and_gib_units(browser, real_agent, shots):
    m = Mocked(browser, real_agent, shots, base_status(stuck_jobs=1))
    m.json_route("**/api/stuck", {"jobs": [{"job_id": 7, "state": "Submitted", "deadline": int(time.time()) - 7300,
                                             "no_fault": "open", "available_at": None, "slash_wei": str(100 * LCAI)}],
                                   "chain_now": int(time.time()), "slash_wei_total": "0", "slash_applies": False})
    page = m.open("dashboard", "#stuck-note .notice")
    assert "1 stuck job." in page.inner_text("#stuck-note") and "(s)" not in page.inner_text("main")
    page = m.open("stuck", "#stuck tbody td.mono")
    page.click("#clear")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    assert "Clear 1 stuck job?" in page.inner_text("[data-testid=confirm-dialog]")
    page.click("#dlg-cancel")
    page = m.open("models", ".model-list input")
    page.wait_for_selector("#picker [data-verdict], #picker .field-msg.bad")
    text = page.inner_text("#picker")
    assert "GiB" in text and not re.search(r"\d GB\b", text)
    page.locator(".model-list input[type=checkbox]").first.check()
    page.wait_for_selector("#picker [data-verdict]")
    assert "(s)" not in page.inner_text("#picker")  # the agent's "model(s)" reads as a plural form
    m.close()


def test_top_up_asks_only_what_is_missing_and_offers_the_devnet_wallet(browser, real_agent, shots):
    """Registered and 100 LCAI under the minimum: fund.html asks 100 LCAI, not the registration sum again; the
    top-up dialog on devnet offers the devnet wallet when the worker wallet holds less than what is missing."""
    st = base_status(stake_wei=4900 * LCAI, wallet_wei=20 * LCAI, alerts=(Alert.UNDERSTAKED,))
    m = Mocked(browser, real_agent, shots, st)
    m.json_route("**/api/onboarding", {"step": "online", "steps": [], "done": True, "network": "devnet", "address": ADDR,
                                       "funding": {"address": ADDR, "threshold_wei": str(5050 * LCAI),
                                                   "balance_wei": str(20 * LCAI), "funded": False,
                                                   "chain": {"chain_id_hex": "0x7a69", "name": "devnet"}}})
    page = m.open("fund", "#address:not(:text('—'))")
    page.wait_for_function("document.querySelector('#amount').value !== ''")
    assert page.input_value("#amount") == "100"
    assert "100 LCAI" in page.inner_text("#needed") and "5,0" not in page.inner_text("#needed")
    m.shot("state-fund-registered")
    page = m.open("dashboard", "#btn-topup:not([disabled])")
    page.click("#btn-topup")
    page.wait_for_selector("[data-testid=topup-dialog]")
    assert page.input_value("#topup-amount") == "100"
    page.click("#topup-devnet")
    page.wait_for_function("document.querySelector('#topup-msg').textContent.includes('devnet wallet')")
    assert m.posts == [("devnet_fund", {})]
    m.close()


def test_restoring_a_staked_key_leads_back_to_a_running_worker(browser, real_agent, shots):
    """§2: after Restore the page says what is left (start the staked worker) and does it in one click."""
    st = base_status(state=WorkerState.PAUSED, stake_wei=4200 * LCAI, container_running=False)
    old = "0x" + "cd" * 20
    m = Mocked(browser, real_agent, shots, st)
    m.json_route("**/api/keys", {"active": {"address": ADDR, "network": "devnet"},
                                 "archive": [{"id": "k1", "address": old, "network": "devnet", "created": time.time() - 86400,
                                              "archived": time.time() - 600, "reason": "replaced", "still_staked": True}]})
    page = m.open("recover", "button[data-id=k1]")
    page.click("button[data-id=k1]")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    assert "registered with its stake" in page.inner_text("[data-testid=confirm-dialog]")
    page.click("#dlg-ok")
    page.wait_for_selector("#restored")
    assert "4,200 LCAI" in page.inner_text("#restored")
    m.shot("state-recover-restored")
    page.click("#start-restored")
    page.wait_for_function("document.querySelector('#next-step progress')?.value === 1")
    assert [k for k, _ in m.posts] == ["recover", "start"]
    m.close()


@pytest.mark.parametrize("name,page_name,click,status_kw", [
    ("state-replace-key-confirm", "settings", "#replace-key", dict(stake_wei=4200 * LCAI)),
    ("state-deregister-confirm", "dashboard", "#btn-deregister", dict(stake_wei=4200 * LCAI)),
    ("state-topup-dialog", "dashboard", "#btn-topup", dict(stake_wei=4900 * LCAI, wallet_wei=20 * LCAI)),
    ("state-remove-confirm", "settings", "#remove", dict(stake_wei=4200 * LCAI)),
])
def test_flow_dialogs_in_every_look(browser, real_agent, shots, name, page_name, click, status_kw):
    """The §2–§3 confirmations at 1280×800 and 800×600, light and dark: nothing cut off, the buttons reachable."""
    for size in SIZES.values():
        for scheme in ("light", "dark"):
            m = Mocked(browser, real_agent, shots, base_status(**status_kw), scheme=scheme, size=size)
            page = m.open(page_name, f"{click}:not([disabled])")
            page.click(click)
            dialog = page.locator("dialog[open]")
            dialog.wait_for()
            box = dialog.bounding_box()
            assert box["y"] >= 0 and box["y"] + box["height"] <= size[1] + 1, (name, size, box)
            assert dialog.locator("button").last.is_visible()
            m.shot(name)
            m.close()


def test_recover_restored_in_every_look(browser, real_agent, shots):
    st = base_status(state=WorkerState.PAUSED, stake_wei=4200 * LCAI, container_running=False)
    keys = {"active": {"address": ADDR, "network": "devnet"},
            "archive": [{"id": "k1", "address": "0x" + "cd" * 20, "network": "devnet", "created": time.time() - 86400,
                         "archived": time.time() - 600, "reason": "replaced", "still_staked": True}]}
    for size in SIZES.values():
        for scheme in ("light", "dark"):
            m = Mocked(browser, real_agent, shots, st, scheme=scheme, size=size)
            m.json_route("**/api/keys", keys)
            page = m.open("recover", "button[data-id=k1]")
            page.click("button[data-id=k1]")
            page.click("#dlg-ok")
            page.wait_for_selector("#restored")
            page.locator("#restored").scroll_into_view_if_needed()
            m.shot("state-recover-restored")
            m.close()
