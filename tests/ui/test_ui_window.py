"""One real pywebview window (Qt backend) under Xvfb, through the child-process path: it opens the dashboard
with a one-time login URL, a second request focuses it instead of opening another, and closing it ends the
child and its whole process tree (a Qt WebEngine window costs ~0.5 GB, so it must really go)."""

from __future__ import annotations

import importlib.util
import json
import os
import time

import psutil
import pytest
from PIL import ImageGrab

from tests.conftest import need
from tray_agent.windows.manager import WindowManager

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out: {what}")


def test_dashboard_window_opens_focuses_and_closes(display, real_agent, tmp_path, monkeypatch, output_dir):
    need(importlib.util.find_spec("PyQt6") is not None, "pywebview's Qt backend (gui extra)")
    report = tmp_path / "window-report.json"
    monkeypatch.setenv("LCAI_WINDOW_REPORT", str(report))
    monkeypatch.setenv("PYWEBVIEW_GUI", "qt")
    client = real_agent.client
    issued = []

    def login_url(next_path: str) -> str:
        url = client.login_url(next_path)
        issued.append(url)
        return url

    runtime = tmp_path / "run"
    wm = WindowManager(runtime, login_url, tmp_path / "logs")
    assert wm.open("dashboard") == "opened"
    pid = wm.pid("dashboard")
    assert pid is not None
    child = psutil.Process(pid)
    # the login URL went over stdin, never onto the command line
    assert not any("code=" in a for a in child.cmdline())
    wait(report.exists, 60, "the dashboard to load in the window")
    page = json.loads(report.read_text())
    assert page["path"] == "/ui/dashboard.html" and page["url_host"] == "127.0.0.1", page
    tree = [child] + child.children(recursive=True)
    assert any("QtWebEngineProcess" in (p.name() + " ".join(p.cmdline())) for p in tree[1:]), \
        [p.name() for p in tree]
    time.sleep(1.5)
    shots = output_dir / "screenshots"
    shots.mkdir(exist_ok=True)
    ImageGrab.grab(xdisplay=os.environ["DISPLAY"]).save(shots / "window-dashboard-qt.png")

    # a second request focuses the open window (no second process, no second login code)
    assert wm.open("dashboard") == "focused"
    assert len(issued) == 1
    wait(lambda: not (runtime / "windows" / "dashboard.focus").exists(), 10, "the window to take the focus request")
    assert wm.pid("dashboard") == pid

    # closing the window ends the child and its whole process tree; the agent keeps running
    assert wm.close("dashboard", timeout=30)
    gone, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, [p.pid for p in alive]
    wm.reap()
    assert wm.pid("dashboard") is None
    assert not (runtime / "windows" / "dashboard.pid").exists()
    assert client.ping()


def test_window_kinds_are_single_instance_across_managers(tmp_path, monkeypatch):
    """Two managers (tray and agent) racing for the same kind: one spawns, the other focuses."""
    import subprocess
    import sys

    from tray_agent.windows import manager as m

    spawned = []

    def fake_spawn(self, kind, next_path):
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", m.CHILD_MODULE])
        spawned.append(proc)
        return proc

    monkeypatch.setattr(m.WindowManager, "_spawn", fake_spawn)
    monkeypatch.setattr(m, "has_display", lambda: True)
    a = m.WindowManager(tmp_path, lambda n: "http://127.0.0.1:1/auth?code=x")
    b = m.WindowManager(tmp_path, lambda n: "http://127.0.0.1:1/auth?code=y")
    try:
        assert a.open("withdraw") == "opened"
        assert b.open("withdraw") == "focused"
        assert (tmp_path / "windows" / "withdraw.focus").exists()
        assert len(spawned) == 1
        # a stale pid file (its child died) does not block a new window
        spawned[0].kill()
        spawned[0].wait()
        assert b.open("withdraw") == "opened" and len(spawned) == 2
        mode = (tmp_path / "windows").stat().st_mode & 0o777
        assert mode == 0o700
    finally:
        for p in spawned:
            p.kill()
            p.wait()


def test_no_display_means_no_window(tmp_path, monkeypatch):
    from tray_agent.windows import manager as m

    monkeypatch.setattr(m, "has_display", lambda: False)
    wm = m.WindowManager(tmp_path, lambda n: pytest.fail("no login code needed"))
    assert wm.open("dashboard") == "unavailable"


def test_child_refuses_foreign_urls():
    from tray_agent.windows.child import main

    assert main(["dashboard", "https://example.org/"]) == 2
    assert main(["nope", "http://127.0.0.1:1/"]) == 2
