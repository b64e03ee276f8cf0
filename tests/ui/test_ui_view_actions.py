"""Tray menu rules of issues 13/17: money actions open their confirmation page (never post), a running operation
shows as busy and blocks the actions, keep-awake says when it is unavailable, Deregister appears when registered."""

from __future__ import annotations

import pytest

from tray_agent.common.ops import MONEY_OPS
from tray_agent.common.status import Status, WorkerState
from tray_agent.tray.view import ViewContext, render
from tray_agent.windows.manager import KINDS

WEI = 10**18
ONLINE = Status(state=WorkerState.ONLINE, address="0xabc", registered=True, releasable_wei=3 * WEI, stuck_jobs=1)


def actions(view) -> list[str]:
    out, stack = [], list(view.menu_items)
    while stack:
        item = stack.pop(0)
        out.append(item.action)
        stack.extend(item.submenu)
    return [a for a in out if a]


@pytest.mark.parametrize("state", list(WorkerState))
def test_no_menu_item_posts_a_money_operation(state):
    view = render(Status(state=state, address="0xabc", registered=True, releasable_wei=WEI, stuck_jobs=2))
    posted = {a.split(":", 1)[1] for a in actions(view) if a.startswith("op:")}
    assert not posted & MONEY_OPS, posted & MONEY_OPS
    for a in actions(view):
        if a.startswith("open:"):
            assert a.split(":", 1)[1] in KINDS, a  # every window the menu opens exists


def test_settle_and_deregister_open_their_confirmation_pages():
    view = render(ONLINE)
    assert view.find("open:settle").enabled and view.find("open:deregister").enabled
    assert "confirm=settle" in KINDS["settle"].page and KINDS["settle"].page.startswith("/ui/dashboard.html")
    assert "confirm=deregister" in KINDS["deregister"].page


def test_stop_of_a_registered_worker_opens_its_confirmation_and_posts_nothing():
    """Issue 13 §2: a registered worker keeps getting jobs while stopped, so the tray's Stop opens the dashboard's
    Stop confirmation (the consequence, Deregister instead); an unregistered worker stops at once."""
    view = render(ONLINE)
    assert view.find("op:stop") is None and view.find("open:stop").enabled
    assert KINDS["stop"].page == "/ui/dashboard.html?confirm=stop"
    assert render(ONLINE.evolve(registered=False)).find("op:stop").enabled


def test_deregister_only_where_it_applies():
    assert render(Status(state=WorkerState.ONLINE, registered=False)).find("open:deregister") is None
    assert render(ONLINE, ViewContext(connected=False)).find("open:deregister") is None
    assert render(ONLINE.evolve(state=WorkerState.PAUSED)).find("open:deregister").enabled
    for state in WorkerState:  # registered, nothing running, not leaving: offered in every state (issue 13 §3)
        item = render(ONLINE.evolve(state=state)).find("open:deregister")
        assert item is not None and item.enabled, state


def test_busy_shows_in_tooltip_and_first_line_and_blocks_every_action():
    view = render(ONLINE.evolve(operation="settle"))
    assert "settle running" in view.menu_items[0].label and "busy: settle running" in view.tooltip
    blocked = ["op:start", "open:stop", "op:restart", "open:settle", "open:withdraw", "open:models", "open:speedtest",
               "open:stuck", "open:recover", "open:deregister"]
    for action in blocked:
        item = view.find(action)
        assert item is not None and not item.enabled, action
    # viewing stays possible
    assert view.find("open:dashboard").enabled and view.find("logs").enabled
    idle = render(ONLINE)
    assert "busy" not in idle.tooltip and all(idle.find(a).enabled for a in ("open:settle", "open:withdraw"))


def test_tray_amounts_in_the_one_lcai_format():
    """Issue 13 §6: the tray's Settle item is exact like the dashboard's button (0.096, never cut to 0.09)."""
    view = render(ONLINE.evolve(releasable_wei=96 * WEI // 1000, wallet_wei=4350 * WEI + 5234 * WEI // 10000))
    assert view.find("open:settle").label == "Settle earnings (0.096 LCAI)…"
    assert "wallet 4,350.5234 LCAI" in view.tooltip, view.tooltip


def test_keep_awake_unavailable_shows_the_reason_and_is_not_ticked():
    st = ONLINE.evolve(keep_awake=True, keep_awake_available=False, keep_awake_reason="no D-Bus session")
    item = render(st, ViewContext(keep_awake=True)).find("toggle:keep_awake")
    assert item.label == "Keep machine awake: unavailable (no D-Bus session)"
    assert item.enabled is False and item.checked is False
    ok = render(ONLINE.evolve(keep_awake=True)).find("toggle:keep_awake")
    assert ok.label == "Keep machine awake" and ok.enabled and ok.checked is True


def test_scheduled_deregistration_shows_countdown_and_cancel_and_keeps_the_worker_stopped():
    import time

    leaving = ONLINE.evolve(state=WorkerState.PAUSED, deregister_at=time.time() + 5 * 3600 + 10 * 60 + 30)
    view = render(leaving)
    assert "deregistering in 5 h 10 min" in view.tooltip and "deregistering in 5 h 10 min" in view.menu_items[0].label
    cancel = view.find("op:cancel_deregister")
    assert cancel is not None and cancel.enabled and "5 h 10 min" in cancel.label
    assert view.find("open:deregister") is None  # already leaving: the menu offers the cancel instead
    for action in ("op:start", "op:restart", "open:recover"):  # refused by the agent meanwhile: not offered
        assert not view.find(action).enabled, action
    assert view.find("open:settle").enabled and view.find("open:withdraw").enabled  # safe ones stay
