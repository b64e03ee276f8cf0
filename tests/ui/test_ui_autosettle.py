"""Settings → Automatic settle in a real browser against a real devnet agent: the address confirmation shows the
full checksummed address and refuses a bad checksum at the field, the policy saves exact values (LCAI → wei,
percent → basis points), pause/resume. Screenshots: test-output/screenshots/settings-autosettle*.png."""

from __future__ import annotations

import pytest

from tests.ui.test_ui_pages import Session

pytestmark = pytest.mark.slow
ADDR = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
BAD_CASE = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"


@pytest.fixture(scope="module")
def ui(browser, real_agent, output_dir):
    shots = output_dir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    s = Session(browser, real_agent, shots, size=(1024, 900))
    yield s
    s.close()


def test_policy_settings_and_the_address_confirmation(ui):
    page = ui.open("settings", "#auto-form")
    page.wait_for_function("document.querySelector('#as-state strong')?.textContent.length > 0")
    assert page.is_disabled("#as-withdraw"), "withdraw cannot be turned on before an address is confirmed"

    page.fill("#as-address", BAD_CASE)
    page.click("#as-confirm")
    page.wait_for_selector("#as-address-msg.bad")
    assert "checksum" in page.inner_text("#as-address-msg")
    assert page.get_attribute("#as-address", "aria-invalid") == "true"
    assert ui.client.get("/api/autosettle")["withdraw_to"] == ""
    page.locator("#auto-form").screenshot(path=str(ui.shots / "settings-autosettle-bad-address.png"))

    page.fill("#as-address", ADDR.lower())
    page.click("#as-confirm")
    page.wait_for_selector("[data-testid=confirm-dialog]")
    assert page.inner_text("[data-testid=full-address]") == ADDR, "the confirmation shows the address in full"
    ui.shot("settings-autosettle-confirm")
    page.click("#dlg-ok")
    page.wait_for_function(f"document.querySelector('#as-to').textContent === '{ADDR}'")
    assert not page.is_disabled("#as-withdraw")

    page.fill("#as-fee", "2.555")
    page.click("#as-save")
    page.wait_for_selector("#errors .notice.error")
    assert "percentage" in page.inner_text("#errors")
    page.check("#as-enabled")
    page.fill("#as-threshold", "12.5")
    page.fill("#as-days", "7")
    page.fill("#as-fee", "2.5")
    page.check("#as-withdraw")
    page.click("#as-save")
    page.wait_for_selector("#as-saved:text('Saved')")
    got = ui.client.get("/api/autosettle")
    assert (got["enabled"], got["threshold_wei"], got["every_days"], got["max_fee_bps"], got["withdraw"]) == \
        (True, str(12_500_000_000_000_000_000), 7, 250, True)
    page.wait_for_function("document.querySelector('#as-state strong').textContent.includes('not registered')")
    assert "null" not in page.inner_text("#as-state")
    assert page.get_attribute("#as-fee", "aria-invalid") != "true", "the fixed field still looks wrong"
    page.locator("#auto-form").screenshot(path=str(ui.shots / "settings-autosettle.png"))

    page.click("#as-pause")
    page.wait_for_function("document.querySelector('#as-pause').textContent === 'Resume'")
    assert ui.client.get("/api/autosettle")["paused"] is True
    page.wait_for_function("document.querySelector('#as-state strong').textContent.startsWith('Paused')")
    ui.shot("settings-autosettle-paused")
    page.click("#as-pause")
    page.wait_for_function("document.querySelector('#as-pause').textContent === 'Pause'")
    assert ui.client.get("/api/autosettle")["paused"] is False

    # the dashboard says what the policy does now (from the Status)
    page = ui.open("dashboard", "#autosettle-state")
    assert "Automatic settle: Waiting: the worker is not registered" in page.inner_text("#autosettle-state")
    page.locator("#autosettle-state").screenshot(path=str(ui.shots / "dashboard-autosettle.png"))
