"""Recover page: import a worker the official toolkit wrote (keystore.json + encryption.key + env) into a real
devnet agent through Chromium; a wrong password is a sentence on the page with the field marked, nothing moves."""

from __future__ import annotations

import json
import re

from eth_account import Account

from tray_agent.core.keys import keystore as ks

PW = "Toolkit-Password-77"




def _toolkit_folder(folder, chain_id: int) -> str:
    acct = Account.create()
    folder.mkdir(parents=True)
    (folder / "keystore.json").write_text(json.dumps(ks.encrypt_keystore(bytes(acct.key), PW, 1024)))
    ecdh, _pub = ks.create_ecdh_file(PW)
    (folder / "encryption.key").write_text(json.dumps(ecdh))
    (folder / "env").write_text(f"CHAIN_ID={chain_id}\n")
    return acct.address


def test_import_a_toolkit_worker_from_the_recover_page(browser, real_agent, tmp_path, output_dir):
    client = real_agent.client
    before = client.get("/api/keys")["active"]
    address = _toolkit_folder(tmp_path / "toolkit-worker", 31337)
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)  # string predicates need eval
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(client.login_url("/ui/recover.html"))
    page.wait_for_url(re.compile(r"/ui/recover\.html"))
    page.fill("#import-path", str(tmp_path / "toolkit-worker"))
    page.fill("#import-password", "not-the-password")
    if before:
        page.check("#import-replace")
    page.click("#import")
    page.wait_for_selector("#errors .notice.error", timeout=60_000)
    assert page.get_attribute("#import-password", "aria-invalid") == "true" or "password" in page.inner_text("#errors")
    assert page.input_value("#import-password") == ""  # a secret never stays on the page
    assert client.get("/api/keys")["active"] == before  # nothing moved
    page.fill("#import-password", PW)
    page.click("#import")
    page.wait_for_function("document.querySelector('#op-progress').textContent.includes('Imported')", timeout=120_000)
    shots = output_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "recover-imported.png"), full_page=True)
    assert client.get("/api/keys")["active"]["address"] == address
    assert PW not in page.content()
    assert not errors, errors
    ctx.close()
