"""Demand-aware model choice on a real devnet agent whose market is skewed: simulated peer workers (registered by
the devnet consumer) and demand weighted toward qwen3-vl:8b. The onboarding picker shows expected LCAI/day with
the formula beside it; the CLI lists the column; Suggest on the Models page includes the model in demand, and
applying it (after a confirmation with old vs new expected earnings) is the normal live model change."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, need
from tests.harness.agent import AgentDied, AgentProc, docker_client_or_none
from tests.harness.fixtures import needs_devnet

pytestmark = pytest.mark.slow
HOT = "qwen3-vl:8b"
MARKET = {"LCAI_DEVNET_PEERS": "llama3-8b=2,glm-4.7-flash=2,gpt-oss:20b=1,qwen3-vl:8b=1",
          "LCAI_DEVNET_DEMAND": "qwen3-vl:8b=10,llama3-8b=2,gpt-oss:20b=1,glm-4.7-flash=1,qwen3-embedding:0.6b=1"}


def wait_for(fn, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def market_agent(tmp_path_factory):
    needs_devnet()
    home = Path(tmp_path_factory.mktemp("demand-home"))
    agent = AgentProc(home, profile="demand", secrets_file=home / "secrets.json", log_name="agent-demand.log",
                      extra_env=MARKET)
    try:
        agent.start(timeout=90)
    except (AgentDied, TimeoutError) as e:
        agent.cleanup(docker_client_or_none())
        need(False, f"a running devnet agent ({e})")
    yield agent
    agent.cleanup(docker_client_or_none())
    (ROOT / "test-output").mkdir(exist_ok=True)
    (ROOT / "test-output" / "agent-demand.log").write_text(agent.tail(200_000))


@pytest.fixture(scope="module")
def skewed(market_agent):
    """Wait for the agent's consumer to register the peers, then submit a burst of jobs with the same skew."""
    from tray_agent.core.chain.models import model_id_bytes
    from tray_agent.devnet.consumer import Consumer

    c = Consumer(market_agent.rpc_url(), 31337)
    wait_for(lambda: c.client.call(c.client.registry, "getEligibleWorkers", model_id_bytes(HOT)), 60,
             "the devnet consumer to register its peer workers")
    for _ in range(40):
        c.submit_one()
    assert c.by_model.get(HOT, 0) > max(v for k, v in c.by_model.items() if k != HOT), c.by_model
    return c.by_model


@pytest.fixture(scope="module")
def page(browser, market_agent, output_dir):
    ctx = browser.new_context(viewport={"width": 1024, "height": 720}, bypass_csp=True)
    p = ctx.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(market_agent.client.login_url("/ui/onboarding.html"))
    p.wait_for_url(re.compile(r"/ui/onboarding\.html"))
    p.shots = output_dir / "screenshots"  # type: ignore[attr-defined]
    p.shots.mkdir(parents=True, exist_ok=True)
    yield p
    assert not errors, f"JavaScript errors: {errors}"
    ctx.close()


def estimates(p) -> dict[str, int]:
    return {e.get_attribute("data-model"): int(e.get_attribute("data-wei"))
            for e in p.locator(".estimate[data-wei]").all()}


def test_onboarding_picker_shows_expected_earnings(page, skewed, market_agent):
    page.wait_for_selector("form input[name=network]")
    page.check("input[value=devnet]")
    page.click("#next")
    page.wait_for_selector("[data-verdict]")
    page.click("#next")
    page.wait_for_selector(".model-list input[type=checkbox]")
    page.wait_for_function(f"document.querySelector('.estimate[data-model=\"{HOT}\"][data-wei]')")
    est = estimates(page)
    assert est[HOT] == max(est.values()) > 0, est
    row = page.locator(".model-list label", has=page.locator(f"input[value='{HOT}']")).inner_text()
    assert "jobs/day ÷ (1 other worker + 1)" in row and "LCAI/day" in row, row
    page.click("[data-testid=demand-how] summary")
    assert "evenly among the eligible workers" in page.inner_text("[data-testid=demand-how]")
    page.screenshot(path=str(page.shots / "onboarding-models-expected-earnings.png"), full_page=True)
    # the window can be changed: the last hour holds every job of this young chain too
    page.select_option("#demand-window", "1")
    page.wait_for_selector("[data-testid=demand-how] summary:has-text('last 1 h')")
    assert estimates(page)[HOT] > 0
    bad = market_agent.get("/api/models/demand?window_h=abc")  # bad input: named, with the fix
    assert bad.status == 400 and "window" in bad.error["message"] and bad.error["fix"], bad.body
    r = market_agent.cli("models", "list")
    assert r.returncode == 0 and "LCAI/day (est.)" in r.stdout and "estimate: LCAI/day = jobs per day" in r.stdout
    hot_line = next(line for line in r.stdout.splitlines() if line.startswith(HOT))
    assert hot_line.split()[-1] != "no demand", r.stdout


def test_models_page_suggestion_includes_the_model_in_demand_and_applies_it(page, skewed, market_agent):
    market_agent.onboard()  # llama3-8b, registered, online
    assert market_agent.status()["served_models"] == ["llama3-8b"]
    api = market_agent.client.get("/api/models/suggest")
    assert HOT in api["models"] and int(api["wei_per_day"]) > int(api["current_wei_per_day"]), api
    r = market_agent.cli("models", "suggest", "--apply")  # no terminal and no --yes: refused, nothing changed
    assert r.returncode == 2 and "needs confirmation" in r.stderr and "Suggested (24 h of demand): " in r.stdout
    page.goto(f"{market_agent.client.base_url}/ui/models.html")
    page.wait_for_selector(".model-list input")
    page.click("#suggest")
    page.wait_for_selector("[data-testid=suggestion]")
    suggested = page.get_attribute("[data-testid=suggestion]", "data-models").split(",")
    assert HOT in suggested and sorted(suggested) == api["models"]
    text = page.inner_text("#suggestion")
    assert "Expected ≈" in text and "now ≈" in text and "Estimate: LCAI/day" in text
    left = {li.get_attribute("data-model") for li in page.locator("#suggestion li").all()}
    assert set(api["models"]) | left >= {m["name"] for m in market_agent.client.get("/api/models")["catalog"]}
    page.screenshot(path=str(page.shots / "models-suggestion.png"), full_page=True)
    page.click("#apply-suggestion")
    dlg = page.wait_for_selector("[data-testid=confirm-dialog]")
    assert "llama3-8b" in dlg.inner_text() and HOT in dlg.inner_text() and dlg.inner_text().count("/day") == 2
    page.screenshot(path=str(page.shots / "models-suggestion-confirm.png"))
    page.click("#dlg-ok")
    page.wait_for_selector("#op-progress progress[value='1'], #errors .notice.error", timeout=240_000)
    assert page.locator("#errors .notice.error").count() == 0, page.inner_text("#errors")
    wait_for(lambda: (s := market_agent.status())["state"] == "online" and set(s["served_models"]) == set(suggested),
             120, "online with the suggested set")
    page.screenshot(path=str(page.shots / "models-suggestion-applied.png"), full_page=True)
