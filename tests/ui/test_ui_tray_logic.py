"""TrayApp against a fake agent API with a recording stand-in for pystray (no display needed).

Checks the wiring: status stream → view → icon/tooltip/menu on the dispatcher thread; menu callbacks only post
to the API; notifications on changes; first run opens onboarding; Quit asks and does what was chosen; the SSE
client reconnects to a restarted agent.
"""

from __future__ import annotations

import threading
import time
import types

import pytest
from ui_fakes import FakeAgent

from tests.polling import wait_for as _wait_for
from tray_agent.common.api_client import ApiClient, ApiError
from tray_agent.common.status import Alert, Status, WorkerState
from tray_agent.tray import app as app_mod
from tray_agent.tray.stream import StatusStream

WEI = 10**18


def wait_for(pred, timeout=10.0, what="condition"):
    return _wait_for(pred, timeout, 0.02, what)


def make_fake_pystray():
    writes: list[tuple[str, str]] = []

    class MenuItem:
        def __init__(self, text, action, checked=None, enabled=True, default=False, **kw):
            self.text, self.enabled, self.default = text, enabled, default
            self._checked = checked
            self.submenu = action if isinstance(action, Menu) else None
            self.action = None if self.submenu else action

        @property
        def checked(self):
            return self._checked(self) if callable(self._checked) else None

    class Menu:
        SEPARATOR = object()

        def __init__(self, *items):
            self.items = items

    class Icon:
        HAS_MENU = True
        HAS_NOTIFICATION = True

        def __init__(self, name, icon=None, title=None, menu=None):
            object.__setattr__(self, "_stop", threading.Event())
            self.name, self.icon, self.title, self.menu = name, icon, title, menu
            self.visible = False
            self.notes = []

        def __setattr__(self, key, value):
            if key in ("icon", "title", "menu"):
                writes.append((key, threading.current_thread().name))
            object.__setattr__(self, key, value)

        def run(self, setup=None):
            if setup:
                threading.Thread(target=setup, args=(self,), daemon=True).start()
            self._stop.wait()

        def stop(self):
            self._stop.set()

        def notify(self, message, title=None):
            self.notes.append((title, message))

    return types.SimpleNamespace(Icon=Icon, Menu=Menu, MenuItem=MenuItem, writes=writes)


def find_item(menu, label_start):
    for it in menu.items:
        if it is menu.SEPARATOR if hasattr(menu, "SEPARATOR") else False:
            continue
        if getattr(it, "text", "").startswith(label_start):
            return it
        if getattr(it, "submenu", None):
            sub = find_item(it.submenu, label_start)
            if sub:
                return sub
    return None


class FakeWindows:
    def __init__(self):
        self.opened = []

    def open(self, kind, query=""):
        self.opened.append(kind)
        return "opened"


@pytest.fixture
def tray(paths, fake_agent, monkeypatch):
    fake = make_fake_pystray()
    monkeypatch.setattr(app_mod.hosts, "import_pystray", lambda backend=None: fake)
    windows = FakeWindows()
    app = app_mod.TrayApp(paths, start_agent=False, windows=windows, dark_panel=True)
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("rc", app.run()), name="tray-main", daemon=True)
    t.start()
    wait_for(lambda: app.icon is not None and app.ctx.connected, what="the tray to attach")
    yield types.SimpleNamespace(app=app, agent=fake_agent, pystray=fake, windows=windows, thread=t, result=result)
    app.stop()
    t.join(10)


def test_icon_starts_in_starting_then_follows_status(tray):
    app, agent = tray.app, tray.agent
    agent.publish(Status(state=WorkerState.ONLINE, registered=True, releasable_wei=2 * WEI, address="0xabc"))
    wait_for(lambda: app.view.icon_key == "online" and "Online" in app.icon.title, what="online icon")
    settle = find_item(app.icon.menu, "Settle earnings")
    assert settle.text == "Settle earnings (2 LCAI)…" and settle.enabled
    assert find_item(app.icon.menu, "Clear stuck jobs") is None
    agent.publish(Status(state=WorkerState.ONLINE, registered=True, stuck_jobs=3, alerts=(Alert.STUCK_JOBS,)))
    wait_for(lambda: find_item(app.icon.menu, "Clear stuck jobs (3)") is not None, what="stuck item")
    assert app.view.icon_key == "online+badge"
    # every pystray write after construction happened on the one dispatcher thread
    later = [thread for key, thread in tray.pystray.writes[3:]]
    assert later and set(later) == {"tray-ui"}


def test_menu_callbacks_post_to_the_agent(tray):
    app, agent = tray.app, tray.agent
    agent.publish(Status(state=WorkerState.ONLINE, registered=False))
    wait_for(lambda: find_item(app.icon.menu, "Stop worker").enabled, what="stop enabled")
    find_item(app.icon.menu, "Stop worker").action(app.icon, None)
    wait_for(lambda: ("stop", {}) in agent.ops, what="stop op posted")
    agent.publish(Status(state=WorkerState.ONLINE, registered=True))  # registered: the confirmation page instead
    wait_for(lambda: app.view.find("open:stop") is not None, what="registered menu")
    posted = len(agent.ops)
    find_item(app.icon.menu, "Stop worker").action(app.icon, None)
    wait_for(lambda: "stop" in tray.windows.opened, what="the stop confirmation window")
    assert len(agent.ops) == posted
    find_item(app.icon.menu, "Restart worker").action(app.icon, None)
    wait_for(lambda: ("restart", {}) in agent.ops, what="restart op posted")
    find_item(app.icon.menu, "Withdraw").action(app.icon, None)
    find_item(app.icon.menu, "Open dashboard").action(app.icon, None)
    wait_for(lambda: tray.windows.opened[-2:] == ["withdraw", "dashboard"], what="windows opened")
    # toggles round-trip through /api/settings and show their checkmark
    assert find_item(app.icon.menu, "Start at login").checked is False
    find_item(app.icon.menu, "Start at login").action(app.icon, None)
    wait_for(lambda: agent.settings["autostart"] is True, what="autostart saved")
    wait_for(lambda: find_item(app.icon.menu, "Start at login").checked is True, what="autostart checked")
    find_item(app.icon.menu, "Keep machine awake").action(app.icon, None)
    wait_for(lambda: agent.settings["keep_awake"] is False, what="keep-awake toggled")


def test_money_actions_open_their_confirmation_window_and_post_nothing(tray):
    """Issue 17 §1: the tray's Settle posted without confirm and always failed; now it opens the page that asks."""
    app, agent = tray.app, tray.agent
    agent.publish(Status(state=WorkerState.ONLINE, registered=True, releasable_wei=2 * WEI, address="0xabc"))
    wait_for(lambda: find_item(app.icon.menu, "Settle earnings").enabled, what="settle enabled")
    find_item(app.icon.menu, "Settle earnings").action(app.icon, None)
    find_item(app.icon.menu, "Deregister").action(app.icon, None)
    wait_for(lambda: tray.windows.opened[-2:] == ["settle", "deregister"], what="confirmation windows")
    time.sleep(0.3)
    assert agent.ops == []  # nothing posted
    app.perform("op:settle")  # even a stray op: action for a money operation never posts
    assert agent.ops == [] and "confirmation window" in app.notified[-1].message


def test_autosettle_pause_and_resume_post_from_the_menu(tray):
    """Pausing the automatic settle policy moves no funds: the menu item posts at once (and only then shows)."""
    app, agent = tray.app, tray.agent
    agent.publish(Status(state=WorkerState.ONLINE, registered=True, address="0xabc"))
    wait_for(lambda: find_item(app.icon.menu, "Stop worker").enabled, what="online menu")
    assert find_item(app.icon.menu, "Pause automatic settle") is None
    agent.publish(Status(state=WorkerState.ONLINE, registered=True, address="0xabc",
                         autosettle={"enabled": True, "paused": False, "state": "armed"}))
    wait_for(lambda: find_item(app.icon.menu, "Pause automatic settle") is not None, what="pause item")
    find_item(app.icon.menu, "Pause automatic settle").action(app.icon, None)
    wait_for(lambda: agent.autosettle_posts == [{"paused": True}], what="pause posted")
    agent.publish(Status(state=WorkerState.ONLINE, registered=True, address="0xabc",
                         autosettle={"enabled": True, "paused": True, "state": "paused"}))
    wait_for(lambda: find_item(app.icon.menu, "Resume automatic settle") is not None, what="resume item")
    find_item(app.icon.menu, "Resume automatic settle").action(app.icon, None)
    wait_for(lambda: agent.autosettle_posts[-1] == {"paused": False}, what="resume posted")
    assert agent.ops == []


def test_busy_operation_shows_and_disables_the_menu(tray):
    app, agent = tray.app, tray.agent
    agent.publish(Status(state=WorkerState.ONLINE, registered=True, address="0xabc", operation="settle"))
    wait_for(lambda: "settle running" in app.icon.title, what="busy tooltip")
    for label in ("Stop worker", "Restart worker", "Settle earnings", "Withdraw", "Deregister"):
        assert not find_item(app.icon.menu, label).enabled, label
    agent.publish(Status(state=WorkerState.ONLINE, registered=True, address="0xabc"))
    wait_for(lambda: find_item(app.icon.menu, "Stop worker").enabled, what="actions back after the operation")
    assert "running" not in app.icon.title


def test_errors_and_notify_events_become_notifications(tray):
    """The agent's AlertWatcher is the one source of notices (tray and webhook alike): status changes alone
    never make the tray notify by itself, `notify` events and failed actions do."""
    app, agent = tray.app, tray.agent
    agent.publish(Status(state=WorkerState.ONLINE))
    wait_for(lambda: app.status.state is WorkerState.ONLINE)
    agent.publish(Status(state=WorkerState.STALE, message="gateway not connected",
                         alerts=(Alert.LOW_GAS,)))
    wait_for(lambda: app.status.state is WorkerState.STALE)
    time.sleep(0.3)
    assert app.notified == []  # no duplicate of the agent's own alerts
    agent.send("notify", {"title": "Worker offline", "message": "not online for 10 min", "level": "error"})
    wait_for(lambda: any(n.title == "Worker offline" for n in app.notified), what="offline notice")
    app.perform("op:busy_test")
    assert app.notified[-1].title == "Could not do that" and "another operation is running" in app.notified[-1].message
    agent.send("notify", {"title": "Withdrawal sent", "message": "5 LCAI", "level": "info"})
    wait_for(lambda: app.notified[-1].title == "Withdrawal sent")
    wait_for(lambda: ("Withdrawal sent", "5 LCAI") in app.icon.notes, what="shown by the icon")


def test_first_run_opens_onboarding_once(tray):
    tray.agent.publish(Status(state=WorkerState.SETUP_NEEDED))
    wait_for(lambda: "onboarding" in tray.windows.opened, what="onboarding window")
    tray.agent.publish(Status(state=WorkerState.SETUP_NEEDED, message="x"))
    time.sleep(0.3)
    assert tray.windows.opened.count("onboarding") == 1
    assert find_item(tray.app.icon.menu, "Finish setup").action is not None


def test_quit_keep_leaves_the_agent_running(tray):
    find_item(tray.app.icon.menu, "Quit, keep the worker running").action(tray.app.icon, None)
    tray.thread.join(10)
    assert not tray.thread.is_alive() and tray.result["rc"] == 0
    assert tray.agent.shutdowns == [] and tray.app.quit_choice == "keep"


def test_quit_and_stop_the_worker(tray):
    find_item(tray.app.icon.menu, "Quit and stop the worker").action(tray.app.icon, None)
    tray.thread.join(10)
    assert not tray.thread.is_alive()
    assert tray.agent.shutdowns == [{"keep_worker": False}]


def test_stream_reconnects_to_a_restarted_agent(paths):
    first = FakeAgent(paths.api_file, Status(state=WorkerState.ONLINE)).start()
    seen, drops = [], []
    stream = StatusStream(paths.api_file, seen.append, drops.append, retry_s=0.2).start()
    try:
        wait_for(lambda: seen and seen[-1].state is WorkerState.ONLINE)
        first.stop()
        wait_for(lambda: drops, what="a disconnect")
        second = FakeAgent(paths.api_file, Status(state=WorkerState.PAUSED), token="another-token").start()
        try:
            wait_for(lambda: seen[-1].state is WorkerState.PAUSED, what="reconnect with the new api.json")
        finally:
            second.stop()
    finally:
        stream.stop()


def test_client_errors_and_login_url(paths, fake_agent):
    client = ApiClient.from_api_file(paths.api_file)
    assert "fake-token" not in repr(client.info)
    url = client.login_url("/ui/withdraw.html")
    assert url.startswith(f"http://127.0.0.1:{fake_agent.port}/auth?code=code0")
    assert "next=%2Fui%2Fwithdraw.html" in url and fake_agent.token not in url
    with pytest.raises(ApiError) as e:
        client.op("busy_test")
    assert e.value.code == "busy" and e.value.status == 409 and e.value.fix
    bad = ApiClient(client.info.__class__(client.info.port, "wrong"))
    with pytest.raises(ApiError) as e:
        bad.status()
    assert e.value.status == 401
    fake_agent.stop()
    with pytest.raises(ApiError) as e:
        client.status()
    assert e.value.code == "agent_not_running"


def test_agent_command_uses_the_same_program(paths):
    cmd = app_mod.agent_command("p1", "devnet")
    assert cmd[-2:] == ["serve", "--headless"] and ["--profile", "p1"] == cmd[cmd.index("--profile"):][:2]
    assert "--network" in cmd and "devnet" in cmd


def test_no_tray_host_opens_the_dashboard_window_and_logs_one_line(paths, fake_agent, monkeypatch, caplog):
    from tray_agent.tray import hosts
    from tray_agent.windows import manager

    opened = []

    class WM:
        def __init__(self, runtime, login_url, logs):
            self.login_url = login_url

        def open(self, kind):
            opened.append((kind, self.login_url("/ui/dashboard.html")))
            return "opened"

    monkeypatch.setattr(hosts, "detect_tray_host",
                        lambda backend=None, wait_s=0: hosts.TrayHost(False, None, "no tray host (GNOME)"))
    monkeypatch.setattr(manager, "WindowManager", WM)
    fake_agent.publish(Status(state=WorkerState.ONLINE))
    caplog.set_level("INFO")
    assert app_mod.run(profile="test") == 0
    assert [k for k, _ in opened] == ["dashboard"] and opened[0][1].startswith("http://127.0.0.1:")
    lines = [r.getMessage() for r in caplog.records if "no system tray" in r.getMessage()]
    assert len(lines) == 1 and "GNOME" in lines[0]
    # first run: the onboarding window instead
    fake_agent.publish(Status(state=WorkerState.SETUP_NEEDED))
    assert app_mod.run(profile="test") == 0
    assert opened[-1][0] == "onboarding"
