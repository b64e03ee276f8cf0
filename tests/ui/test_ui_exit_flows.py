"""Issue 13 §2–§3 in the browser: Stop, Replace worker key, Remove/Restore and Deregister as finished paths, the
money back in the user's hands and led to Withdraw. Pages from a real devnet agent with the status intercepted
(tests/ui/mocked_status.py); screenshots state-*.png in every look."""

from __future__ import annotations

import time

import pytest

from tests.ui.mocked_status import ADDR, LCAI, SIZES, Mocked, base_status, every_look
from tray_agent.common.status import WorkerState

pytestmark = pytest.mark.slow


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
