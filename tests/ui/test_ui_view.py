"""The tray view is a pure function of Status: every WorkerState gets an icon, a tooltip and the issue's menu."""

from __future__ import annotations

import pytest

from tray_agent.common.status import Alert, Status, WorkerState
from tray_agent.tray.icons import icon_key
from tray_agent.tray.view import TOOLTIP_MAX, ViewContext, render

WEI = 10**18
MENU = ["Open dashboard", "Start worker", "Stop worker", "Restart worker", "Settle earnings", "Withdraw…",
        "Models this worker serves…", "Speed test…", "Recover a replaced key…",
        "Deregister and get the stake back…", "Keep machine awake",
        "Start at login", "Open logs folder", "Quit"]


def labels(view) -> list[str]:
    return [i.label for i in view.menu_items if not i.separator]


def base_label(label: str) -> str:
    return label.split(" (")[0]


@pytest.mark.parametrize("state", list(WorkerState))
def test_every_state_renders_icon_tooltip_and_menu(state):
    st = Status(state=state, address="0xabc", registered=True, releasable_wei=3 * WEI, served_models=("llama3-8b",))
    view = render(st, ViewContext())
    assert view.icon_key == state.value
    assert state.label in view.tooltip and len(view.tooltip) <= TOOLTIP_MAX
    got = [base_label(x) for x in labels(view)[1:]]  # [0] is the status line
    expected = list(MENU)
    if state is WorkerState.SETUP_NEEDED:
        expected[0] = "Finish setup…"
    assert got == expected
    status_line = view.menu_items[0]
    assert not status_line.enabled and state.label in status_line.label
    assert view.find("open:dashboard" if state is not WorkerState.SETUP_NEEDED else "open:onboarding").default
    # Quit asks whether the worker keeps running
    quit_item = next(i for i in view.menu_items if i.label == "Quit")
    assert [s.action for s in quit_item.submenu] == ["quit:keep", "quit:stop"]


@pytest.mark.parametrize(("state", "start", "stop", "restart"), [
    (WorkerState.ONLINE, False, True, True),
    (WorkerState.STARTING, False, True, True),
    (WorkerState.STALE, False, True, True),
    (WorkerState.PAUSED, True, False, True),
    (WorkerState.ERROR, True, False, True),
    (WorkerState.STOPPING, False, False, False),
    (WorkerState.DOCKER_DOWN, True, False, True),
    (WorkerState.DOCKER_MISSING, False, False, False),
    (WorkerState.SETUP_NEEDED, False, False, False),
])
def test_start_stop_restart_enabled_by_state(state, start, stop, restart):
    view = render(Status(state=state, address="0xabc"))
    assert (view.find("op:start").enabled, view.find("op:stop").enabled, view.find("op:restart").enabled) == (
        start, stop, restart)


def test_clear_stuck_jobs_only_when_there_are_any():
    assert render(Status(state=WorkerState.ONLINE)).find("open:stuck") is None
    item = render(Status(state=WorkerState.ONLINE, stuck_jobs=2)).find("open:stuck")
    assert item is not None and item.label == "Clear stuck jobs (2)…" and item.enabled
    # its position: right after Speed test…
    names = labels(render(Status(state=WorkerState.ONLINE, stuck_jobs=1)))
    assert names.index("Clear stuck jobs (1)…") == names.index("Speed test…") + 1


def test_toggles_carry_checkmarks():
    view = render(Status(state=WorkerState.ONLINE, keep_awake=True), ViewContext(autostart=False))
    assert view.find("toggle:keep_awake").checked is True
    assert view.find("toggle:autostart").checked is False
    view = render(Status(state=WorkerState.ONLINE, keep_awake=False), ViewContext(autostart=True))
    assert view.find("toggle:keep_awake").checked is False
    assert view.find("toggle:autostart").checked is True
    # non-toggles have no checkmark
    assert view.find("open:settle").checked is None


def test_disconnected_shows_starting_and_disables_worker_actions():
    view = render(Status(state=WorkerState.ONLINE, alerts=(Alert.LOW_GAS,)), ViewContext(connected=False))
    assert view.icon_key == "starting"  # the icon appears at once in "starting"
    assert "starting" in view.tooltip.lower()
    for action in ("op:start", "op:stop", "op:restart", "open:settle", "toggle:keep_awake", "quit:stop"):
        assert not view.find(action).enabled, action
    assert view.find("open:dashboard").enabled and view.find("quit:keep").enabled
    assert view.find("logs").enabled
    err = render(Status(), ViewContext(connected=False, agent_error="the agent did not start"))
    assert "the agent did not start" in err.menu_items[0].label


def test_running_operation_disables_operations():
    view = render(Status(state=WorkerState.ONLINE, operation="withdraw", registered=True))
    assert "withdraw running" in view.menu_items[0].label
    assert not view.find("open:stop").enabled and not view.find("open:settle").enabled


def test_settle_shows_amount_and_needs_registration():
    assert not render(Status(state=WorkerState.ONLINE, registered=False)).find("open:settle").enabled
    item = render(Status(state=WorkerState.ONLINE, registered=True, releasable_wei=12_345 * 10**15)).find("open:settle")
    assert item.enabled and item.label == "Settle earnings (12.345 LCAI)…"  # the one LCAI rule


def test_alert_badge_and_tooltip():
    st = Status(state=WorkerState.ONLINE, alerts=(Alert.LOW_GAS,), wallet_wei=5 * WEI, releasable_wei=WEI)
    view = render(st)
    assert view.icon_key == icon_key(WorkerState.ONLINE, (Alert.LOW_GAS,)) == "online+badge"
    assert "low gas" in view.tooltip and "ready to settle 1 LCAI" in view.tooltip and "wallet 5 LCAI" in view.tooltip
    # informational alerts get no badge
    assert render(Status(state=WorkerState.ONLINE, alerts=(Alert.KEEP_AWAKE_UNAVAILABLE,))).icon_key == "online"


def test_tooltip_is_bounded():
    st = Status(state=WorkerState.ERROR, network="testnet", alerts=tuple(Alert), releasable_wei=10**30, wallet_wei=10**30)
    assert len(render(st).tooltip) <= TOOLTIP_MAX


def test_render_is_pure(monkeypatch):
    """Same Status in, same view out, whatever the clock says; no I/O; the Status is not changed; and the view
    does follow its input (a different Status gives a different view)."""
    import copy
    import socket
    import time as time_mod

    st = Status(state=WorkerState.ONLINE, updated_at=1.0, alerts=(Alert.LOW_GAS,), releasable_wei=WEI,
                served_models=("llama3-8b",), registered=True, address="0xabc")
    snapshot = copy.deepcopy(st)
    first = render(st, ViewContext())

    def no_io(*a, **k):
        raise AssertionError("render did I/O")

    monkeypatch.setattr(time_mod, "time", lambda: 9e9)
    monkeypatch.setattr(time_mod, "monotonic", lambda: 9e9)
    monkeypatch.setattr("builtins.open", no_io)
    monkeypatch.setattr(socket, "socket", no_io)
    again = render(copy.deepcopy(st), ViewContext())
    monkeypatch.undo()
    assert again == first
    assert st == snapshot
    assert render(st.evolve(state=WorkerState.ERROR), ViewContext()) != first
    assert render(st.evolve(releasable_wei=2 * WEI), ViewContext()) != first





def test_autosettle_pause_item_follows_the_policy_state():
    """The pause item is a pure render of Status.autosettle: absent while the policy is off, Pause while on,
    Resume while paused, and it posts an action (pausing moves no funds)."""
    base = Status(state=WorkerState.ONLINE, address="0xabc", registered=True)
    assert render(base).find("autosettle:pause") is None and render(base).find("autosettle:resume") is None
    on = base.evolve(autosettle={"enabled": True, "paused": False, "state": "armed"})
    item = render(on).find("autosettle:pause")
    assert item is not None and item.enabled and item.label == "Pause automatic settle"
    assert render(on.evolve(autosettle={"enabled": True, "paused": False, "state": "retrying"})).find(
        "autosettle:pause").label == "Pause automatic settle (retrying)"
    paused = base.evolve(autosettle={"enabled": True, "paused": True, "state": "paused"})
    assert render(paused).find("autosettle:resume").label == "Resume automatic settle"
    assert render(paused).find("autosettle:pause") is None
    assert render(on, ViewContext(connected=False)).find("autosettle:pause") is None
    # the Status round-trips through JSON (the tray rebuilds it from the agent's events)
    assert Status.from_dict(on.to_dict()).autosettle == on.autosettle


def test_each_risky_state_has_its_tray_icon_and_tooltip_words():
    """Issue 13 §1: suspended, slashed, understaked, paused with sessions and stuck jobs each change the icon
    (error state, or the state's badge with the alert dot) and the tooltip names it."""
    from tests.risky_states import risky_states

    online, rows = risky_states()
    plain = render(online).icon_key
    assert plain == "online"
    words = {"suspended": "suspended", "slashed": "slashed", "understaked": "stake below minimum",
             "paused_with_sessions": "paused while registered", "stuck_jobs": "stuck jobs"}
    keys = {}
    for kind, (st, _) in rows.items():
        view = render(st)
        keys[kind] = view.icon_key
        assert view.icon_key != plain and (view.icon_key.startswith("error") or view.icon_key.endswith("+badge")), kind
        assert words[kind] in view.tooltip, (kind, view.tooltip)
    assert keys["suspended"].startswith("error") and keys["understaked"].startswith("error")
    assert keys["paused_with_sessions"] == "paused+badge"


def test_stop_stays_available_while_the_container_runs_in_a_risky_state():
    """A suspended or understaked worker is in the error state but its container still runs (it gets no jobs): the
    user can still stop it, e.g. to free the GPU. A paused one has nothing to stop."""
    from tests.risky_states import risky_states

    for kind, (st, _) in risky_states()[1].items():
        stop = next(i for i in render(st).menu_items if i.label == "Stop worker")
        assert stop.enabled == st.container_running, (kind, st.state, st.container_running)
