"""Preflight through the real API server of a real devnet agent: the route, the CLI handler (exit codes 0/1/5)
and the page in Chromium; the Content-Security-Policy on every page (an injected inline script never runs)."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil

import pytest

from tests.conftest import need
from tray_agent import cli_preflight
from tray_agent.api.client import ApiClient
from tray_agent.api.preflight_route import preflight_route
from tray_agent.api.server import ApiServer
from tray_agent.core.agent import Agent
from tray_agent.core.preflight_agent import agent_preflight

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGES = ["onboarding", "dashboard", "models", "speedtest", "withdraw", "stuck", "recover", "settings", "fund",
         "preflight"]
WRONG = "Wrong-Password-123"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    home = tmp_path_factory.mktemp("pf-home")
    old = os.environ.get("LCAI_TRAY_HOME")
    os.environ["LCAI_TRAY_HOME"] = str(home)
    from tray_agent.common.paths import Paths

    agent = Agent(Paths.for_profile("pfapi"), "devnet", secrets_file=home / "secrets.json", manage_worker=False)
    srv = ApiServer(agent)
    agent.api_token = srv.token
    srv.app.router.routes.append(preflight_route(lambda: agent_preflight(agent, ["llama3-8b"])))
    srv.start()
    agent.start()
    agent.ready.wait(60)
    client = ApiClient(json.loads(agent.paths.api_file.read_text()), timeout=120)
    client.post("/api/onboarding/network", {"network": "devnet"})
    client.post("/api/onboarding/models", {"models": ["llama3-8b"]})
    client.post("/api/onboarding/password", {"generate": True})
    yield agent, srv, client
    agent.stop(keep_worker=True)
    srv.stop()
    if old is None:
        os.environ.pop("LCAI_TRAY_HOME", None)
    else:
        os.environ["LCAI_TRAY_HOME"] = old


def _run_cli(client, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="lcai-tray")
    cli_preflight.add_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["preflight", *argv])
    out = io.StringIO()
    return cli_preflight.handler(client, args, out), out.getvalue()


def test_route_lists_every_check_without_blocks(live):
    agent, _srv, client = live
    rep = client.get("/api/preflight")
    by_id = {c["id"]: c for c in rep["checks"]}
    for cid in ("rpc", "keystore_password", "key_address", "ecdh"):
        assert by_id[cid]["result"] == "ok", by_id[cid]
    assert agent.status().address in by_id["key_address"]["detail"]
    assert {"docker", "worker_image", "ollama", "models", "disk", "clock", "keep_awake", "autostart"} <= set(by_id)
    assert all(set(c) == {"id", "title", "result", "detail", "fix"} for c in rep["checks"])
    assert rep["result"] in ("ok", "warn") and rep["counts"]["block"] == 0


def test_cli_exit_codes_and_json(live):
    agent, _srv, client = live
    code, text = _run_cli(client)
    rep = client.get("/api/preflight")
    assert code == {"ok": 0, "warn": 5}[rep["result"]]
    assert "[OK   ] Chain RPC" in text and "blocking" in text.splitlines()[-1]
    code, text = _run_cli(client, "--json")
    assert json.loads(text)["checks"] and code in (0, 5)
    good = agent.custody.secrets.get("keystore-password")
    agent.custody.secrets.set("keystore-password", WRONG)
    try:
        code, text = _run_cli(client)
        assert code == 1
        assert "[BLOCK] Keystore password" in text and "fix:" in text and WRONG not in text
    finally:
        agent.custody.secrets.set("keystore-password", good)
    assert _run_cli(client)[0] in (0, 5)


def test_csp_header_on_pages_api_and_login_page(live):
    import httpx

    _agent, srv, client = live
    auth = {"Authorization": f"Bearer {srv.token}"}
    for path in ("/ui/preflight.html", "/ui/dashboard.html", "/api/status", "/api/preflight"):
        r = httpx.get(f"{srv.base_url}{path}", headers=auth, timeout=60)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "default-src 'self'" in csp
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    r = httpx.get(f"{srv.base_url}/ui/dashboard.html")  # no token: the sign-in page
    assert r.status_code == 401 and "content-security-policy" in r.headers


@pytest.fixture(scope="module")
def browser():
    need(os.path.exists(CHROMIUM), "Chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"])
        yield b
        b.close()


RECORD_CSP = ("window.__csp = []; document.addEventListener('securitypolicyviolation', "
              "(e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
INJECT = """() => {
  window.__ran = [];
  const s = document.createElement('script'); s.textContent = "window.__ran.push('inline-script')";
  document.body.append(s);
  const d = document.createElement('div');
  d.innerHTML = '<img src="data:," onerror="window.__ran.push(\\'inline-handler\\')">';
  document.body.append(d);
  // later, outside the DevTools evaluation (which itself may eval): as page code would
  setTimeout(() => { try { eval("window.__ran.push('eval')"); } catch (e) { window.__evalError = e.name; } }, 0);
  return new Promise((r) => setTimeout(() => r(window.__ran), 300));
}"""


def test_injected_inline_script_does_not_run_and_pages_work(live, browser):
    _agent, _srv, client = live
    ctx = browser.new_context()
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(RECORD_CSP)
    try:
        page.set_content("<html><body>control</body></html>")  # no CSP: the same injection runs
        assert set(page.evaluate(INJECT)) == {"inline-script", "inline-handler", "eval"}

        page.goto(client.post("/api/login-code?next=/ui/preflight.html")["url"])
        page.wait_for_url(re.compile(r"/ui/preflight\.html"))
        page.wait_for_selector("#checks tbody tr[data-check='rpc']")
        assert page.evaluate(INJECT) == []
        assert page.evaluate("window.__evalError") == "EvalError"
        assert any("script-src" in v for v in page.evaluate("window.__csp"))

        rows = page.locator("#checks tbody tr")
        rep = client.get("/api/preflight")
        assert rows.count() == len(rep["checks"])
        assert page.locator("tr[data-check='keystore_password'][data-result='ok']").count() == 1
        warn = next((c for c in rep["checks"] if c["result"] == "warn"), None)
        if warn:
            assert warn["fix"] in page.locator(f"tr[data-check='{warn['id']}'] td.fix").inner_text()
        counts = rep["counts"]
        summary = page.inner_text("#summary")  # plural forms, not "warning(s)" (issue 13 §7)
        if rep["result"] == "warn":
            assert f"{counts['warn']} warning{'' if counts['warn'] == 1 else 's'}." in summary, summary
        assert "(s)" not in summary, summary
        page.screenshot(path="test-output/preflight-page.png", full_page=True)

        for name in PAGES:  # every page still loads and runs its module script under the policy
            page.goto(f"{client.base_url}/ui/{name}.html")
            page.wait_for_selector("header.top nav")
            violations = [v for v in page.evaluate("window.__csp") if not v.startswith("style-src-attr")]
            assert violations == [], (name, violations)
        assert errors == [], errors
    finally:
        ctx.close()
