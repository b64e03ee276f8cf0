"""pystray for real under Xvfb with trayer as the tray host and a D-Bus session: the icon docks, updates and
stops, with the AppIndicator backend (menu present) and with the xorg backend (no menu). Screenshots of the
tray area go to test-output/screenshots/."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import ImageGrab

from tray_agent.common.status import Alert, Status, WorkerState

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.gui


def wait_file(path: Path, timeout: float = 20.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path
        time.sleep(0.05)
    raise AssertionError(f"{path.name} did not appear")


def docked_windows() -> list[str]:
    """WM_CLASS of the windows embedded in trayer's panel (our icon shows up here once docked)."""
    from Xlib import display

    d = display.Display()
    try:
        found: list[str] = []

        def walk(w, inside):
            try:
                cls = w.get_wm_class() or ()
                children = w.query_tree().children
            except Exception:
                return
            if inside and cls:
                found.append("/".join(cls))
            is_panel = "trayer" in cls and (w.get_wm_name() or "") == "panel"
            for c in children:
                walk(c, inside or is_panel)

        walk(d.screen().root, False)
        return found
    finally:
        d.close()


def raise_panel() -> None:
    """Put trayer's panel on top: a window left by another test on the shared display must not hide it."""
    from Xlib import X, display

    d = display.Display()
    try:
        def walk(w):
            try:
                if "trayer" in (w.get_wm_class() or ()):
                    w.configure(stack_mode=X.Above)
                for c in w.query_tree().children:
                    walk(c)
            except Exception:
                pass

        walk(d.screen().root)
        d.sync()
    finally:
        d.close()


def tray_colors() -> set[str]:
    """Which state colours show in the top-right tray area."""
    raise_panel()
    img = ImageGrab.grab(xdisplay=os.environ["DISPLAY"])
    w = img.width
    area = img.crop((w - 200, 0, w, 32))
    colours = {"green": (26, 127, 55), "red": (207, 34, 46), "amber": (179, 89, 0)}
    seen = set()
    raw = area.tobytes()
    for px in (raw[i:i + 3] for i in range(0, len(raw), 3)):
        for name, ref in colours.items():
            if sum(abs(a - b) for a, b in zip(px, ref, strict=True)) < 40:
                seen.add(name)
    return seen


def grab_tray(out: Path) -> None:
    img = ImageGrab.grab(xdisplay=os.environ["DISPLAY"])
    img.crop((img.width - 200, 0, img.width, 32)).resize((800, 128)).save(out)


@pytest.mark.parametrize("backend", ["appindicator", "xorg"])
def test_icon_docks_updates_and_stops(backend, display, dbus_session, trayer, paths, fake_agent, tmp_path, output_dir):
    if backend == "appindicator":
        from tray_agent.tray.hosts import appindicator_available

        assert appindicator_available(), "PyGObject + AyatanaAppIndicator3 must be installed (linux-tray extra)"
    shots = output_dir / "screenshots"
    shots.mkdir(exist_ok=True)
    fake_agent.publish(Status(state=WorkerState.ONLINE, registered=True, address="0xabc"))
    before = docked_windows()
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    env = dict(os.environ, PYSTRAY_BACKEND=backend)
    log = tmp_path / "tray.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(HERE / "tray_harness.py"), backend, str(ctl)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_file(ctl / "ready")

        def report() -> dict:
            (ctl / "report.json").unlink(missing_ok=True)
            (ctl / "report").write_text("1")
            return json.loads(wait_file(ctl / "report.json").read_text())

        # docks: a new window is embedded in trayer's panel
        deadline = time.monotonic() + 10
        while len(docked_windows()) <= len(before) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(docked_windows()) > len(before), f"icon did not dock: {docked_windows()} ({log.read_text()[-2000:]})"
        rep = report()
        assert rep["backend"] == f"pystray._{backend}" and rep["visible"]
        assert rep["icon_key"] == "online" and "Online" in rep["title"]
        deadline = time.monotonic() + 20
        while "green" not in tray_colors() and time.monotonic() < deadline:
            time.sleep(0.2)
        if "green" not in tray_colors():
            grab_tray(shots / f"tray-{backend}-online-FAILED.png")
            raise AssertionError(f"the online icon is not visible in the tray; docked={docked_windows()}; "
                                 f"tray log: {log.read_text()[-1500:]}")
        grab_tray(shots / f"tray-{backend}-online.png")
        if backend == "appindicator":
            assert rep["has_menu"]
            menu = rep["menu"]
            for label in ("Open dashboard", "Start worker", "Stop worker", "Restart worker", "Withdraw…",
                          "Models this worker serves…", "Speed test…", "Recover a replaced key…",
                          "Keep machine awake", "Start at login", "Open logs folder", "Quit"):
                assert label in menu, (label, menu)
            assert not any(m.startswith("Clear stuck jobs") for m in menu)
        else:
            assert rep["has_menu"] is False  # xorg: no menu; the README says what users without gi get

        # updates: state and menu follow the agent
        fake_agent.publish(Status(state=WorkerState.ERROR, message="crash loop", stuck_jobs=2,
                                  alerts=(Alert.CRASH_LOOP,)))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and report()["icon_key"] != "error+badge":
            time.sleep(0.1)
        rep = report()
        assert rep["icon_key"] == "error+badge" and "Needs attention" in rep["title"]
        deadline = time.monotonic() + 10
        while "red" not in tray_colors() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "red" in tray_colors() and "green" not in tray_colors(), "the icon image did not update"
        grab_tray(shots / f"tray-{backend}-error.png")
        if backend == "appindicator":
            assert "Clear stuck jobs (2)…" in rep["menu"]

        # stops: run() returns, the process exits, the icon leaves the panel
        (ctl / "quit").write_text("1")
        try:
            rc = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)  # the harness dumps its threads (faulthandler)
            time.sleep(1)
            raise AssertionError("the tray did not stop:\n" + log.read_text()[-6000:]) from None
        assert rc == 0, log.read_text()[-3000:]
        assert wait_file(ctl / "exited").read_text() == "0"
        deadline = time.monotonic() + 10
        while len(docked_windows()) > len(before) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(docked_windows()) == len(before)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
