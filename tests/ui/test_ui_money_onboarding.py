"""Issue 13 §5–§7 in the browser: money in the one LCAI format, the chart agreeing with the table, onboarding
(network, Back, fit, errors as sentences, one progress display), words and units, top-up asks what is missing.
Pages from a real devnet agent with the status intercepted (tests/ui/mocked_status.py)."""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.ui.mocked_status import ADDR, LCAI, SIZES, Mocked, base_status, every_look
from tray_agent.common.amounts import format_lcai
from tray_agent.common.status import Alert, WorkerState

pytestmark = pytest.mark.slow


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
