"""Child windows close with their tray, also when the tray is killed with SIGKILL (issue 13 §7).

The cheap tests tie a plain child process to a parent with windows.lifeline (and show that a child started from
a short-lived thread through the manager's spawn thread is NOT killed when that thread ends — PR_SET_PDEATHSIG
fires on the forking *thread's* exit). The last test opens a real Qt window from the real tray process and
kills the tray with SIGKILL: the onboarding window, the one the issue saw left running.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import ROOT, need

HERE = Path(__file__).resolve().parent

PARENT = textwrap.dedent("""
    import subprocess, sys, threading, time, os
    from tray_agent.windows import manager
    child = [sys.executable, "-c",
             "import os, sys, time; from tray_agent.windows.lifeline import hold; "
             "print(hold(int(sys.argv[1])), flush=True); time.sleep(120)", str(os.getpid())]
    out = {}
    def spawn():  # a short-lived thread, like the tray's menu-action threads
        out["p"] = manager._SPAWNER.submit(subprocess.Popen, child, stdout=subprocess.PIPE, text=True).result()
    t = threading.Thread(target=spawn); t.start(); t.join()
    p = out["p"]
    print(p.pid, p.stdout.readline().strip(), flush=True)
    time.sleep(120)
""")


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def test_child_outlives_the_spawning_thread_and_dies_with_the_process():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=str(ROOT),
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        child_pid_s, how = parent.stdout.readline().split()
        child = int(child_pid_s)
        assert how == ("pdeathsig" if sys.platform.startswith("linux") else "watch")
        time.sleep(1.0)  # the spawning thread has ended by now
        assert psutil.Process(child).is_running() and psutil.Process(child).status() != psutil.STATUS_ZOMBIE
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_gone(child, 10), "the child outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_watch_thread_ends_the_child_when_the_parent_is_gone(monkeypatch):
    """The non-Linux path (a watch thread), exercised here by turning prctl off."""
    from tray_agent.windows import lifeline

    monkeypatch.setattr(lifeline, "_set_pdeathsig", lambda: False)
    gone = []
    assert lifeline.hold(os.getppid(), on_gone=lambda: gone.append(1), interval_s=0.05) == "watch"
    time.sleep(0.2)
    assert gone == []  # our parent (pytest's launcher) lives
    assert lifeline.hold(os.getpid(), on_gone=lambda: gone.append(2)) == "gone"  # not our parent: already "gone"
    assert gone == [2]


@pytest.mark.gui
@pytest.mark.slow
def test_sigkill_of_the_tray_closes_its_real_window(display, dbus_session, trayer, paths, fake_agent, tmp_path):
    need(importlib.util.find_spec("PyQt6") is not None, "pywebview's Qt backend (gui extra)")
    from tray_agent.common.status import Status, WorkerState

    fake_agent.publish(Status(state=WorkerState.SETUP_NEEDED))  # the onboarding window (issue 13 §7)
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    env = dict(os.environ, PYSTRAY_BACKEND="appindicator", PYWEBVIEW_GUI="qt")
    log = tmp_path / "tray.log"
    with open(log, "wb") as out:
        tray = subprocess.Popen([sys.executable, str(HERE / "tray_harness.py"), "appindicator", str(ctl)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    window = None
    try:
        deadline = time.monotonic() + 30
        while not (ctl / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (ctl / "ready").exists(), log.read_text()[-2000:]
        (ctl / "click").write_text("Finish setup…")
        pid_file = paths.runtime / "windows" / "onboarding.pid"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                window = psutil.Process(int(json.loads(pid_file.read_text())["pid"]))
                break
            except (OSError, ValueError, KeyError, psutil.NoSuchProcess):
                time.sleep(0.1)
        assert window is not None, log.read_text()[-2000:]
        deadline = time.monotonic() + 60  # the Qt WebEngine helper shows the window is really up
        while not any("QtWebEngineProcess" in p.name() for p in window.children(recursive=True)):
            assert time.monotonic() < deadline, "the Qt window did not start"
            time.sleep(0.2)
        tree = [window, *window.children(recursive=True)]
        tray.send_signal(signal.SIGKILL)
        tray.wait(10)
        for p in tree:
            assert wait_gone(p.pid, 15), f"{p.pid} ({p.name()}) outlived the killed tray"
    finally:
        if tray.poll() is None:
            tray.kill()
            tray.wait()
        if window is not None and window.is_running():
            for p in [window, *window.children(recursive=True)]:
                p.kill()
