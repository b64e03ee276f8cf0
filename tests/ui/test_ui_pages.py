"""Every page in a real browser (Playwright + Debian's Chromium) against a real agent on devnet.

The tests run in order on one agent: onboarding first (network → hardware → models → password → funding →
automatic steps), then the pages that need a worker key. Each action's happy path and its main error path;
screenshots go to test-output/screenshots/.
"""

from __future__ import annotations

import csv
import io
import os
import re
import urllib.request

import pytest

from tests.conftest import need

pytestmark = pytest.mark.slow
PAGES = ["onboarding", "dashboard", "models", "speedtest", "withdraw", "stuck", "recover", "settings", "fund"]




class Session:
    """A logged-in browser context with a page; collects JS errors so every test can assert none happened."""

    def __init__(self, browser, agent, shots, scheme="light", size=(1024, 720)):
        self.agent, self.client, self.shots = agent, agent.client, shots
        # bypass_csp: Playwright's string predicates (wait_for_function) are evaluated with eval, which our CSP
        # refuses; the CSP itself is checked in tests/api/test_preflight_api.py with every page loaded under it
        self.ctx = browser.new_context(viewport={"width": size[0], "height": size[1]}, color_scheme=scheme,
                                       bypass_csp=True)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(self.client.login_url("/ui/dashboard.html"))
        self.page.wait_for_url(re.compile(r"/ui/dashboard\.html"))

    def open(self, name: str, wait: str = "header.top nav"):
        self.page.goto(f"{self.client.base_url}/ui/{name}.html")
        self.page.wait_for_selector(wait)
        return self.page

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def close(self) -> None:
        assert not self.errors, f"JavaScript errors: {self.errors}"
        self.ctx.close()


@pytest.fixture(scope="module")
def ui(browser, real_agent, shots):
    s = Session(browser, real_agent, shots)
    yield s
    s.close()


def status(ui) -> dict:
    return ui.client.get("/api/status")


# --- security / login ---------------------------------------------------------------------------------------
def test_pages_need_the_login_link(browser, real_agent, shots):
    ctx = browser.new_context()
    page = ctx.new_page()
    client = real_agent.client
    resp = page.goto(f"{client.base_url}/ui/dashboard.html")  # no cookie: refused, with how to get in
    assert resp.status == 401
    assert "lcai-tray open" in page.inner_text("body") and "sign-in link" in page.inner_text("h1")
    url = client.login_url("/ui/dashboard.html")
    page.goto(url)
    page.wait_for_selector("#state-pill .pill")
    page.screenshot(path=str(shots / "dashboard-after-login.png"))
    # the one-time link does not work twice
    other = browser.new_context()
    resp = other.new_page().goto(url)
    assert resp.status == 401
    other.close()
    ctx.close()


# --- onboarding ----------------------------------------------------------------------------------------------
def test_onboarding_network_step(ui):
    page = ui.open("onboarding", "form input[name=network]")
    assert page.inner_text("#steps li[aria-current=step]").endswith("Network")
    page.check("input[value=mainnet]")
    assert "50,000" in page.inner_text("#panel .notice.warn")
    page.click("#next")
    page.wait_for_selector("#errors .notice.error")
    assert "confirm the mainnet stake" in page.inner_text("#errors")
    ui.shot("onboarding-1-network-mainnet-warning")
    page.check("input[value=devnet]")
    assert page.locator("#mainnet-ack").is_hidden()
    page.click("#next")
    page.wait_for_selector("text=This machine")


def test_onboarding_hardware_step(ui):
    page = ui.page
    assert page.inner_text("#steps li[aria-current=step]").endswith("Hardware check")
    page.wait_for_selector("[data-verdict]")
    assert page.locator("table tbody tr").count() >= 1
    ui.shot("onboarding-2-hardware")
    page.click("#next")
    try:
        page.wait_for_selector(".model-list input[type=checkbox]")
    except Exception:
        ui.shot("onboarding-2-hardware-next-failed")
        raise AssertionError(page.inner_text("#main") + "\n" + ui.agent.tail()) from None


def test_onboarding_models_step(ui):
    page = ui.page
    boxes = page.locator(".model-list input[type=checkbox]")
    for i in range(boxes.count()):
        boxes.nth(i).uncheck()
    page.wait_for_selector("text=Choose at least one model.")
    page.click("#next")  # error path: the agent refuses an empty choice
    page.wait_for_selector("#errors .notice.error")
    assert "model" in page.inner_text("#errors").lower()
    default = ui.agent_default_model = "llama3-8b"
    page.check(f".model-list input[value='{default}']")
    page.wait_for_selector("#panel [data-verdict]")
    assert page.locator(".meter > span").get_attribute("style").startswith("width:")
    ui.shot("onboarding-3-models")
    page.click("#next")
    page.wait_for_selector("#gen")


def test_onboarding_password_step(ui):
    page = ui.page
    page.uncheck("#gen")
    page.fill("#pw", "correct horse battery staple 1")
    page.fill("#pw2", "correct horse battery staple 2")
    page.click("#next")
    page.wait_for_selector("#pw-msg.bad")
    assert "differ" in page.inner_text("#pw-msg")
    ui.shot("onboarding-4-password-mismatch")
    page.check("#gen")
    page.click("#next")
    page.wait_for_selector("#funding, #auto-steps", timeout=60_000)
    html = page.content()
    assert "correct horse" not in html  # never shown again


def test_onboarding_funding_step(ui):
    page = ui.page
    page.wait_for_selector("#funding")
    address = page.inner_text("#fund-address")
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", address)
    assert page.get_attribute("#eip681", "href").startswith(f"ethereum:{address}@31337")
    assert page.locator(".qr svg").count() == 1
    assert "LCAI" in page.inner_text("#fund-amount")
    ui.shot("onboarding-5-funding")


def test_fund_page_with_a_browser_wallet(browser, real_agent, shots):
    """fund.html: no wallet → clear error; with an EIP-1193 wallet → add/switch the chain, send the exact amount."""
    s = Session(browser, real_agent, shots)
    page = s.open("fund", "#address:not(:text('—'))")
    page.click("#send")
    page.wait_for_selector("#errors .notice.error")
    assert "No browser wallet" in page.inner_text("#errors")
    s.shot("fund-no-wallet")
    onboarding = s.client.get("/api/onboarding")
    missing = int(onboarding["funding"]["missing_wei"])
    s.ctx.add_init_script("""
      window.__calls = [];
      window.ethereum = { request: async ({method, params}) => {
        window.__calls.push({method, params});
        if (method === 'eth_requestAccounts') return ['0x00000000000000000000000000000000000000aa'];
        if (method === 'wallet_switchEthereumChain') { const e = new Error('Unrecognized chain'); e.code = 4902; throw e; }
        if (method === 'wallet_addEthereumChain') return null;
        if (method === 'eth_sendTransaction') return '0x' + 'ab'.repeat(32);
        throw new Error('unexpected ' + method);
      } };
    """)
    page = s.open("fund", "#address:not(:text('—'))")
    page.wait_for_function("document.querySelector('#amount').value !== ''")
    page.click("#send")
    page.wait_for_selector("#errors .notice.ok")
    calls = page.evaluate("window.__calls")
    assert [c["method"] for c in calls] == ["eth_requestAccounts", "wallet_switchEthereumChain",
                                             "wallet_addEthereumChain", "eth_sendTransaction"]
    assert calls[1]["params"][0]["chainId"] == "0x7a69"
    tx = calls[3]["params"][0]
    assert tx["to"].lower() == onboarding["funding"]["address"].lower()
    assert int(tx["value"], 16) == missing and tx["gas"] == "0x5208"
    s.shot("fund-sent")
    s.close()


def test_onboarding_automatic_steps(ui):
    page = ui.page
    page.click("#devnet-fund")
    page.wait_for_selector("#auto-steps", timeout=60_000)
    ui.shot("onboarding-6-progress")
    need(bool(os.environ.get("DOCKER_HOST")), "a private dockerd for the worker container (DOCKER_HOST)")
    try:
        page.wait_for_selector("text=Your worker is online", timeout=240_000)
    except Exception:
        ui.shot("onboarding-6-failed")
        raise AssertionError(f"onboarding did not finish: {page.inner_text('#main')}\n{ui.agent.tail()}") from None
    ui.shot("onboarding-7-done")
    assert status(ui)["registered"] is True


# --- pages with a worker --------------------------------------------------------------------------------------
def _devnet_rpc(ui) -> str:
    rpc = (ui.client.get("/api/onboarding").get("funding") or {}).get("chain", {}).get("rpc_url", "")
    need(bool(rpc), "the devnet RPC URL in /api/onboarding")
    return rpc


def _wait(pred, timeout: float, what: str):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_dashboard_with_jobs(ui):
    """Jobs from the devnet consumer show up in the jobs table (and the earnings chart once sampled)."""
    need(status(ui)["registered"], "a registered worker (onboarding on devnet)")
    # right after onboarding the worker may still be warming its model (starting): wait for it, and say what it was
    try:
        st = _wait(lambda: (s := status(ui))["state"] == "online" and s, 120, "the worker to be online")
    except AssertionError:
        raise AssertionError(f"worker not online: {status(ui)}\n{ui.agent.tail()}") from None
    from tray_agent.devnet.consumer import Consumer

    consumer = Consumer(_devnet_rpc(ui), models=list(st["served_models"]), worker=st["address"])
    for _ in range(3):
        consumer.submit_one(st["address"], st["served_models"][0])
    _wait(lambda: ui.client.get("/api/jobs")["jobs"], 90, "jobs in /api/jobs")
    page = ui.open("dashboard", "#state-pill .pill")
    page.wait_for_function("document.querySelectorAll('#jobs tbody tr td.mono').length > 0", timeout=30_000)
    if len(ui.client.get("/api/earnings")["series"]) >= 2:
        page.wait_for_selector("#chart canvas")
    ui.shot("dashboard-with-jobs")


def test_dashboard(ui):
    page = ui.open("dashboard", "#state-pill .pill")
    st = status(ui)
    page.wait_for_function("document.querySelector('#b-total').textContent !== '—'")
    assert page.get_attribute("#state-pill .pill", "data-state") == st["state"]
    # balances add up: the total row is the sum of the agent's rows. Jobs keep completing while the page renders,
    # so compare the page with the status of the same moment (they meet once the live update has arrived)
    keys = ("stake_wei", "escrowed_wei", "releasable_wei", "worker_balance_wei", "wallet_wei")

    def gap() -> float:
        parts = sum(int(status(ui)[k]) for k in keys)
        shown = page.inner_text("#b-total").replace(",", "").split()[0]
        return abs(float(shown.lstrip("<")) - parts / 1e18)

    _wait(lambda: gap() < 1e-3, 30, "the dashboard's total equal to the sum of the status balances")
    assert page.locator("#jobs tbody tr").count() >= 1
    for m in st["served_models"]:
        assert m in page.inner_text("#served")
    ui.shot("dashboard")


def _new_ops(ui, before: set[str]) -> list[dict]:
    return [o for o in ui.client.get("/api/history?limit=50")["items"] if o["id"] not in before]


def _idle_online(ui) -> None:
    _wait(lambda: (s := status(ui))["state"] == "online" and not s["operation"]
          and all(o["state"] != "running" for o in ui.client.get("/api/history?limit=5")["items"]), 180,
          "an online worker with no operation running")


def test_dashboard_restart(ui):
    """Restart from the dashboard runs to its end: the page shows it finished, the history has one done restart."""
    _idle_online(ui)
    page = ui.open("dashboard", "#state-pill .pill")
    page.wait_for_selector("#btn-restart:not([disabled])", timeout=30_000)
    before = {o["id"] for o in ui.client.get("/api/history?limit=50")["items"]}
    page.click("#btn-restart")
    page.wait_for_selector("#op-progress progress[value='1'], #errors .notice.error", timeout=120_000)
    ui.shot("dashboard-restart")
    assert page.locator("#errors .notice.error").count() == 0, page.inner_text("#errors")
    new = _new_ops(ui, before)
    assert [(o["kind"], o["state"]) for o in new] == [("restart", "done")], new


def test_dashboard_settle_refused_while_busy(ui):
    """Error path: Settle clicked while a restart runs is refused by the agent (409 busy) and the page shows the
    agent's message and its fix; the settle never runs."""
    from tests.harness import make_releasable

    _idle_online(ui)
    make_releasable(ui.agent, 1)  # Settle is enabled only when something is ready to settle
    _wait(lambda: int(status(ui)["releasable_wei"]) > 0, 60, "releasable earnings in the status")
    page = ui.open("dashboard", "#state-pill .pill")
    page.wait_for_selector("#btn-restart:not([disabled])", timeout=30_000)
    page.wait_for_selector("#btn-settle:not([disabled])", timeout=30_000)
    before = {o["id"] for o in ui.client.get("/api/history?limit=50")["items"]}
    # both clicks in one task: the restart request goes out, then the settle dialog opens (before any status event)
    page.evaluate("document.querySelector('#btn-restart').click(); document.querySelector('#btn-settle').click()")
    page.click("#dlg-ok")
    page.wait_for_selector("#errors .notice.error", timeout=60_000)
    ui.shot("dashboard-settle-busy")
    text = page.inner_text("#errors")
    assert "another operation is running (restart)" in text.lower() and "how to fix: wait for it to finish" in text.lower(), text
    _wait(lambda: all(o["state"] != "running" for o in _new_ops(ui, before)), 180, "the restart to finish")
    assert [(o["kind"], o["state"]) for o in _new_ops(ui, before)] == [("restart", "done")]


def test_dashboard_settle(ui):
    """Happy path: releasable jobs (replica test hook) are settled from the dashboard and land in the history."""
    from tests.harness import make_releasable

    _idle_online(ui)
    ids = make_releasable(ui.agent, 2)
    _wait(lambda: int(status(ui)["releasable_wei"]) > 0, 60, "releasable earnings in the status")
    page = ui.open("dashboard", "#state-pill .pill")
    page.wait_for_function("document.querySelector('#btn-settle').textContent.startsWith('Settle ')"
                           " && !document.querySelector('#btn-settle').disabled", timeout=30_000)
    before = {o["id"] for o in ui.client.get("/api/history?limit=50")["items"]}
    page.click("#btn-settle")
    page.click("#dlg-ok")
    page.wait_for_selector("#op-progress progress[value='1'], #errors .notice.error", timeout=180_000)
    ui.shot("dashboard-settle")
    assert page.locator("#errors .notice.error").count() == 0, page.inner_text("#errors")
    (op,) = _new_ops(ui, before)
    assert op["kind"] == "settle" and op["state"] == "done", op
    assert op["result"]["released_count"] >= len(ids) and int(op["result"]["withdrawn_wei"]) > 0, op["result"]


def test_withdraw(ui):
    page = ui.open("withdraw", "#to")
    page.fill("#to", "0x1234")
    page.wait_for_selector("#to-msg.bad")
    assert page.get_attribute("#to", "aria-invalid") == "true"
    ui.shot("withdraw-bad-address")
    page.fill("#to", "0x" + "11" * 20)
    page.fill("#amount", "999999999")
    page.wait_for_selector("#amount-msg.bad")
    assert page.locator("#send").is_disabled()
    ui.shot("withdraw-too-much")
    page.click("#max")
    page.wait_for_function("document.querySelector('#fee').textContent !== '—'")
    ok = page.locator("#send").is_enabled()
    ui.shot("withdraw-max-preview")
    if not ok:
        pytest.skip(f"nothing to withdraw above the gas reserve: {page.inner_text('#amount-msg')}")
    page.fill("#amount", "1")
    page.wait_for_function("!document.querySelector('#send').disabled")
    page.click("#send")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    dialog = page.inner_text("[data-testid=confirm-dialog]")
    assert "Network fee" in dialog and "1 LCAI" in dialog
    ui.shot("withdraw-confirm")
    page.click("#dlg-ok")
    page.wait_for_selector("#op-progress .notice.ok, #errors .notice.error", timeout=180_000)
    ui.shot("withdraw-result")
    assert page.locator("#op-progress .notice.ok").count() == 1, page.inner_text("#main")


def test_models_page(ui):
    page = ui.open("models", ".model-list input")
    page.wait_for_selector("#picker [data-verdict], #picker .field-msg.bad")
    assert page.locator("#save").is_disabled()  # nothing changed yet
    ui.shot("models")
    boxes = page.locator(".model-list input[type=checkbox]")
    names = []
    for i in range(boxes.count()):
        boxes.nth(i).check()
        names.append(boxes.nth(i).get_attribute("value"))
    # the verdict shown is the agent's answer for exactly this selection (no stale answer)
    page.wait_for_function("(n) => [...document.querySelectorAll('#picker [data-models]')]"
                           ".some(e => e.dataset.models.split(',').sort().join() === n)", arg=",".join(sorted(names)))
    verdict = page.get_attribute("#picker [data-verdict]", "data-verdict")
    ui.shot("models-all-selected")
    if verdict == "wont_fit":
        assert page.locator("#save").is_disabled()  # error path: a set that does not fit cannot be applied
    else:
        assert page.locator("#save").is_enabled()
    # happy path: add a small model to the served set (pull → on-chain add, no re-stake → restart → verify)
    st = status(ui)
    need(st["registered"], "a registered devnet worker")
    catalog = ui.client.get("/api/models")["catalog"]
    extra = min((m for m in catalog if m["name"] not in st["served_models"]),
                key=lambda m: int(m.get("footprint_bytes") or 0))["name"]
    wanted = sorted([*st["served_models"], extra])
    for i in range(boxes.count()):
        value = boxes.nth(i).get_attribute("value")
        boxes.nth(i).set_checked(value in wanted)
    page.wait_for_function("(n) => [...document.querySelectorAll('#picker [data-models]')]"
                           ".some(e => e.dataset.models.split(',').sort().join() === n)", arg=",".join(wanted))
    assert page.inner_text("#changes").startswith("Adds: " + extra)
    page.click("#save")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    page.click("#dlg-ok")
    page.wait_for_selector("#op-progress progress[value='1'], #errors .notice.error", timeout=240_000)
    ui.shot("models-applied")
    assert page.locator("#errors .notice.error").count() == 0, page.inner_text("#errors")
    assert sorted(_wait(lambda: set(status(ui)["served_models"]) == set(wanted) and status(ui)["served_models"], 120,
                        "the new served set")) == wanted


def test_speedtest_page(ui):
    """Devnet ships a simulated Ollama (issue 13 §4): the speed test runs in the demo and the page shows a verdict
    per served model against the chain's completion timeout."""
    _idle_online(ui)
    page = ui.open("speedtest", "#run")
    ui.shot("speedtest")
    before = {o["id"] for o in ui.client.get("/api/history?limit=50")["items"]}
    page.click("#run")
    page.wait_for_selector("#results-card:not([hidden]), #errors .notice.error", timeout=240_000)
    ui.shot("speedtest-result")
    (op,) = _new_ops(ui, before)
    assert op["kind"] == "speedtest" and op["state"] == "done", op
    assert page.locator("#results-card").is_visible()
    text = page.inner_text("#results-card")
    for m in op["result"]["models"]:
        assert m["model"] in text, (m["model"], text)
    assert page.locator("#run").is_enabled()  # can be run again


def test_stuck_page(ui):
    page = ui.open("stuck", "#stuck tbody tr")
    page.wait_for_function("!document.querySelector('#stuck tbody').textContent.includes('Loading')")
    data = ui.client.get("/api/stuck")
    table = page.inner_text("#stuck")
    if not data["jobs"]:
        assert "No stuck jobs" in table and page.locator("#clear").is_disabled()
    else:  # every stuck job the agent knows is listed, and they can be cleared
        for job in data["jobs"]:
            assert str(job["job_id"]) in table, (job, table)
        assert page.locator("#stuck tbody tr").count() == len(data["jobs"])
        # clearing is offered when some job can be cleared now (no-fault open) or only with a slash (no path)
        assert page.locator("#clear").is_enabled() == any(j["no_fault"] != "waiting" for j in data["jobs"])
    ui.shot("stuck")


def test_stuck_jobs_cleared(ui):
    """A job past its deadline and its no-fault grace while the worker is stopped: listed, cleared without a slash
    after confirmation (the waiting and slash-only states: tests/ui/test_ui_stuck.py)."""
    st = status(ui)
    need(st["registered"] and bool(os.environ.get("DOCKER_HOST")), "a registered devnet worker")
    from tray_agent.devnet.consumer import inject_stuck_job

    # an earlier page's operation (e.g. the model change) may still be finishing: Stop would be refused as busy
    _wait(lambda: all(o["state"] != "running" for o in ui.client.get("/api/history?limit=5")["items"]), 300,
          "earlier operations to finish")
    page = ui.open("dashboard", "#state-pill .pill")
    page.wait_for_selector("#btn-stop:not([disabled])", timeout=60_000)
    page.click("#btn-stop")
    page.wait_for_selector("[data-testid=confirm-dialog]")  # Stop says what it means for claimed sessions first
    ui.shot("dashboard-stop-confirm")
    page.click("#dlg-ok")
    try:
        _wait(lambda: status(ui)["state"] == "paused", 180, "the worker to stop")
    except AssertionError:
        ui.shot("stuck-stop-failed")
        st2 = status(ui)
        raise AssertionError(f"not paused: {st2['state']} {st2['message']!r} op={st2['operation']!r} "
                             f"{page.inner_text('#main')[:600]}\n{ui.agent.tail(3000)}") from None
    job = inject_stuck_job(_devnet_rpc(ui), st["address"], model=st["served_models"][0], advance_s=7200 + 600)
    _wait(lambda: ui.client.get("/api/stuck")["jobs"], 90, "the stuck job in /api/stuck")
    page = ui.open("stuck", "#stuck tbody tr td.mono")
    assert str(job) in page.inner_text("#stuck")
    ui.shot("stuck-listed")
    assert page.locator("#allow-slash").count() == 0  # the no-fault path is open: no slash is asked for
    page.click("#clear")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    ui.shot("stuck-confirm")
    page.click("#dlg-ok")
    page.wait_for_selector("#op-progress progress[value='1'], #errors .notice.error", timeout=180_000)
    ui.shot("stuck-cleared")
    assert page.locator("#errors .notice.error").count() == 0, page.inner_text("#errors")
    _wait(lambda: not ui.client.get("/api/stuck")["jobs"], 60, "the stuck list to empty")
    # the list empties once the claim is mined; the operation finishes its refresh just after
    _wait(lambda: not status(ui)["operation"], 60, "the clear operation to finish")
    ui.client.op("start")
    # started again = no longer paused (a no-fault settlement is no offence; other stuck jobs of the consumer may be)
    _wait(lambda: status(ui)["state"] not in ("paused", "stopping"), 120, "the worker to start again")


def test_settings_page(ui):
    page = ui.open("settings", "#form")
    page.wait_for_function("document.querySelector('#offline_alert_minutes').value !== ''")
    page.fill("#webhook_url", "ftp://example.org/hook")
    page.click("#save")
    page.wait_for_selector("#errors .notice.error")
    assert page.get_attribute("#webhook_url", "aria-invalid") == "true"
    ui.shot("settings-bad-webhook")
    page.fill("#webhook_url", "https://example.org/hook")
    page.fill("#offline_alert_minutes", "15")
    page.click("#save")
    page.wait_for_selector("#saved:text('Saved')")
    got = ui.client.get("/api/settings")
    assert got["webhook_url"] == "https://example.org/hook" and got["offline_alert_minutes"] == 15
    # the Ollama URL field the speed test's fix points to ("set an Ollama URL in Settings", issue 13 §4)
    assert page.inner_text("label[for=ollama_url]").startswith("Ollama URL")
    page.fill("#ollama_url", "ftp://127.0.0.1:11434")
    page.click("#save")
    page.wait_for_selector("#errors .notice.error")
    assert page.get_attribute("#ollama_url", "aria-invalid") == "true"
    assert "The Ollama address is not valid." in page.inner_text("#errors"), page.inner_text("#errors")
    ui.shot("settings-bad-ollama-url")
    sim = ui.agent.sim_ollama_url()  # the devnet's simulated Ollama: the worker keeps its Ollama
    need(bool(sim), "the devnet's simulated Ollama")
    page.fill("#ollama_url", sim)
    page.click("#save")
    page.wait_for_selector("#saved:text('Saved')")
    assert ui.client.get("/api/settings")["ollama_url"] == sim
    ui.shot("settings-ollama-url")
    page.fill("#ollama_url", "")
    page.click("#save")
    page.wait_for_function("document.querySelector('#saved').textContent.includes('Saved')")
    assert ui.client.get("/api/settings")["ollama_url"] == ""
    page.select_option("#network", "devnet")
    page.click("#switch")
    page.wait_for_selector("#errors .notice.error")
    assert "Already on devnet" in page.inner_text("#errors")
    ui.shot("settings")


def test_recover_page(ui):
    page = ui.open("recover", "#archive tbody tr")
    page.wait_for_function("!document.querySelector('#archive tbody').textContent.includes('Loading')")
    ui.shot("recover")
    rows = ui.client.get("/api/keys")["archive"]
    if not rows:
        assert "No archived keys" in page.inner_text("#archive")
        return
    page.click(f"button[data-id='{rows[0]['id']}']")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    page.click("#dlg-cancel")
    assert page.locator("[data-testid=confirm-dialog]").count() == 0


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_at_800x600(browser, real_agent, shots, scheme):
    """Usable at 800×600 in light and dark: no horizontal scrollbar, headings and labelled controls."""
    s = Session(browser, real_agent, shots, scheme=scheme, size=(800, 600))
    for name in PAGES:
        page = s.open(name, "main h1")
        page.wait_for_timeout(400)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name
        unlabeled = page.evaluate("""[...document.querySelectorAll('input, select, button')].filter(e => {
            if (e.type === 'hidden' || e.closest('[hidden]')) return false;
            const id = e.id && document.querySelector(`label[for="${e.id}"]`);
            return !(id || e.closest('label') || e.getAttribute('aria-label') || (e.textContent || '').trim());
          }).map(e => e.outerHTML.slice(0, 80))""")
        assert not unlabeled, (name, unlabeled)
        s.shot(f"{name}-800x600-{scheme}")
    s.close()


def test_history_csv_download(ui):
    req = urllib.request.Request(f"{ui.client.base_url}/api/history.csv",
                                 headers={"Authorization": f"Bearer {ui.client.token}"})
    _wait(lambda: all(o["state"] != "running" for o in ui.client.get("/api/history?limit=5")["items"]), 180,
          "no operation running")
    items = [o for o in ui.client.get("/api/history?limit=1000")["items"] if o["network"] == "devnet"]
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in r.headers["Content-Disposition"]
        text = r.read().decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["type", "time", "network", "detail", "amount_wei", "fee_wei", "state"]
    ops = [(r[3], r[6]) for r in rows[1:] if r[0] == "operation"]
    # the download holds every operation of the history, oldest first, with its final state
    assert ops == [(o["kind"], o["state"]) for o in reversed(items)], (ops, items)
    assert ("onboarding", "done") in ops and ("settle", "done") in ops, ops


def test_remove_worker_then_recover_the_key(ui):
    """Settings → Remove the worker (key archived, never deleted) → Recover lists it → Restore makes it active."""
    st = status(ui)
    need(bool(st["address"]) and bool(os.environ.get("DOCKER_HOST")), "a devnet worker with a key")
    address = st["address"]
    page = ui.open("settings", "#remove")
    page.click("#remove")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    page.click("#dlg-ok")
    page.wait_for_selector("#op-progress progress[value='1'], #errors .notice.error", timeout=180_000)
    assert page.locator("#errors .notice.error").count() == 0, page.inner_text("#errors")
    archive = _wait(lambda: ui.client.get("/api/keys")["archive"], 30, "the archived key")
    entry = next(k for k in archive if k["address"].lower() == address.lower())
    page = ui.open("recover", f"button[data-id='{entry['id']}']")
    assert address.lower() in page.inner_text("#archive").lower()
    ui.shot("recover-archived")
    page.click(f"button[data-id='{entry['id']}']")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    page.click("#dlg-ok")
    page.wait_for_selector("#op-progress progress[value='1'], #errors .notice.error", timeout=180_000)
    ui.shot("recover-restored")
    assert page.locator("#errors .notice.error").count() == 0, page.inner_text("#errors")
    keys = ui.client.get("/api/keys")
    assert keys["active"]["address"].lower() == address.lower()
