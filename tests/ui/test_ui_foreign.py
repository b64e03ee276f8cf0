"""The foreign-worker banner in the browser (issue 12 §4): a worker another app runs here is shown with both ways
out — Adopt it (keystore password in a dialog, then the adopt_foreign operation) and Stop the other worker.

Like tests/ui/test_ui_states.py, /api/status and the operations are intercepted (page.route), so the banner is the
one the agent's derive_status makes for that fact and no container is touched; the adopt operation itself runs end
to end in tests/agent/test_worker_handover.py. Screenshots: test-output/screenshots/state-foreign-*.png.
"""

from __future__ import annotations

import pytest

from tests.ui.mocked_status import Mocked, base_status, every_look
from tray_agent.core.facts import Facts, derive_status

pytestmark = pytest.mark.slow
FOREIGN = {"name": "lightchain-worker", "image": "ghcr.io/lightchain-protocol/worker:latest", "chain_id": "8200",
           "mounts": ["/etc/lightchain/worker", "/var/lib/lightchain-worker"]}


def _status() -> dict:
    notices = derive_status(Facts(profile="default", network="devnet", foreign=(FOREIGN,))).notices
    assert notices and notices[0].kind == "foreign_worker"
    return base_status(notices=notices[:1], container_running=False)


def test_foreign_banner_offers_adopt_and_stop(browser, real_agent, shots):
    st = _status()
    m = Mocked(browser, real_agent, shots, st)
    m.op_result = {"adopted": "lightchain-worker", "address": "0x" + "cd" * 20}
    page = m.open("dashboard", "#banner-adopt")
    banner = page.inner_text("#banner-main")
    assert "Another worker is running on this machine: lightchain-worker" in banner and "Adopt it" in banner
    assert page.inner_text("#banner-action").strip() == "Stop the other worker"
    page.click("#banner-adopt")
    page.wait_for_selector("#adopt-password")
    assert page.get_attribute("#adopt-password", "type") == "password"
    page.fill("#adopt-password", "Toolkit-Password-9")
    page.check("#adopt-replace")
    m.shot("state-foreign-adopt-dialog")
    page.click("#dlg-ok")
    page.wait_for_function("document.querySelector('#op-progress progress')?.value === 1")
    assert m.posts == [("adopt_foreign", {"confirm": True, "password": "Toolkit-Password-9", "replace_active": True})]
    assert "Adopted lightchain-worker" in page.inner_text("#op-progress")
    m.close()
    every_look(browser, real_agent, shots, st, "dashboard", "state-foreign", "#banner-main")


def test_foreign_banner_stop_asks_then_posts(browser, real_agent, shots):
    m = Mocked(browser, real_agent, shots, _status())
    page = m.open("dashboard", "#banner-action")
    page.click("#banner-action")
    page.click("#dlg-ok")
    page.wait_for_function("document.querySelector('#op-progress progress')?.value === 1")
    assert m.posts == [("stop_foreign", {"confirm": True})]
    m.close()
