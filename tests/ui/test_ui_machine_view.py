"""One tray icon for the machine (pure render): with other workers (profiles) on the machine, the icon is the worst
state of all of them, the tooltip counts them and the menu lists each worker with its state; choosing another
worker opens its dashboard (``worker:<profile>``). The same render runs against two live devnet agents in
tests/ui/test_ui_gpu_workers.py."""

from __future__ import annotations

import pytest

from tray_agent.common.siblings import Machine, WorkerEntry
from tray_agent.common.status import Alert, Status, WorkerState
from tray_agent.tray.view import ViewContext, render


def st(state: WorkerState, profile: str, **kw) -> Status:
    return Status(state=state, profile=profile, network="devnet", **kw)


def workers_menu(view):
    return next(i for i in view.menu_items if i.label.startswith("Workers on this machine"))


def test_alone_the_view_has_no_workers_menu():
    view = render(st(WorkerState.ONLINE, "default"), ViewContext())
    assert not any(i.label.startswith("Workers on this machine") for i in view.menu_items)
    assert view.icon_key == "online"


def test_two_workers_both_listed_and_worst_state_wins():
    me = st(WorkerState.ONLINE, "gpu0", active_jobs=2)
    other = WorkerEntry("gpu1", st(WorkerState.PAUSED, "gpu1"))
    view = render(me, ViewContext(others=(other,)))
    assert view.icon_key == "paused"  # the paused worker is worse than the online one
    menu = workers_menu(view)
    assert menu.label == "Workers on this machine (2)"
    assert [(i.label, i.action, i.enabled) for i in menu.submenu] == [
        ("gpu0 (this): Online · 2 jobs", "open:dashboard", True),
        ("gpu1: Paused", "worker:gpu1", True)]
    assert view.tooltip == "LightChain workers (2): 1 paused, 1 online"
    assert view.find("worker:gpu1") is not None


def test_own_worse_state_and_alerts_of_others_give_the_badge():
    me = st(WorkerState.ERROR, "gpu0")
    other = WorkerEntry("gpu1", st(WorkerState.ONLINE, "gpu1", alerts=(Alert.LOW_GAS,)))
    view = render(me, ViewContext(others=(other,)))
    assert view.icon_key == "error+badge"


@pytest.mark.parametrize(("mine", "theirs", "icon"), [
    (WorkerState.ONLINE, WorkerState.STALE, "stale"),
    (WorkerState.STARTING, WorkerState.ONLINE, "starting"),
    (WorkerState.ONLINE, WorkerState.ONLINE, "online"),
    (WorkerState.PAUSED, WorkerState.DOCKER_MISSING, "docker_missing"),
])
def test_worst_of_two(mine, theirs, icon):
    view = render(st(mine, "a"), ViewContext(others=(WorkerEntry("b", st(theirs, "b")),)))
    assert view.icon_key == icon


def test_an_agent_not_running_is_listed_but_not_counted():
    me = st(WorkerState.ONLINE, "gpu0")
    down = WorkerEntry("gpu1", None, error="the agent is not running")
    view = render(me, ViewContext(others=(down,)))
    assert view.icon_key == "online"
    item = workers_menu(view).submenu[1]
    assert item.label == "gpu1: agent not running" and not item.enabled
    assert "1 agent not running" in view.tooltip
    assert Machine((WorkerEntry("gpu0", me), down)).to_dict()["worst_profile"] == "gpu0"
