"""The REAL tray process (pystray AppIndicator backend under Xvfb + trayer) against a REAL devnet agent
(issue 15 §3, issue 17 §1): the tray starts the agent when none runs, each menu item reaches the agent (the
operation ran, the setting changed, or — for money actions — its confirmation page was opened with a login code
the agent accepts), the tray reconnects after the agent restarts, and it shows the busy state during an operation.

Windows: the window child processes are real, but pywebview is made unimportable for them (a ``webview`` module
that raises ImportError, first on their PYTHONPATH), so they take their documented no-webview path and hand the
page to the system browser — which is a recorder script named in ``$BROWSER``. The window with a real Qt
webview is covered by test_ui_window.py and by the SIGKILL test at the end of this file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psutil
import pytest
from agent.agent_harness import cleanup_containers, docker_ready, onboard  # noqa: F401 (fixture)

from tests.conftest import ROOT, need

HERE = Path(__file__).resolve().parent
PROFILE = "traye2e"
pytestmark = [pytest.mark.gui, pytest.mark.slow]


def wait_for(pred, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Tray:
    """tray_harness.py in its own process, with its own LCAI_TRAY_HOME; the agent is whatever the tray starts."""

    def __init__(self, home: Path):
        self.home, self.ctl = home, home / "ctl"
        self.ctl.mkdir(parents=True, exist_ok=True)
        stub = home / "no-webview"
        stub.mkdir(exist_ok=True)
        (stub / "webview.py").write_text("raise ImportError('pywebview is left out in this test')\n")
        self.opened = home / "browser.txt"
        recorder = home / "browser.sh"
        recorder.write_text(f'#!/bin/sh\necho "$1" >> "{self.opened}"\n')
        recorder.chmod(0o755)
        self.secrets = home / "secrets.json"
        self.env = dict(os.environ, LCAI_TRAY_HOME=str(home), LCAI_TRAY_PROFILE=PROFILE, PYSTRAY_BACKEND="appindicator",
                        PYTHONPATH=f"{stub}{os.pathsep}{ROOT}", BROWSER=str(recorder), PYTHONUNBUFFERED="1")
        self.log = home / "tray.log"
        self.proc: subprocess.Popen | None = None

    @property
    def api_file(self) -> Path:
        return self.home / PROFILE / "run" / "api.json"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, str(HERE / "tray_harness.py"), "appindicator", str(self.ctl),
                                          "--start-agent", "--network", "devnet", "--secrets-file", str(self.secrets)],
                                         env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT))

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def report(self) -> dict:
        (self.ctl / "report.json").unlink(missing_ok=True)
        (self.ctl / "report").write_text("1")
        path = wait_for(lambda: (self.ctl / "report.json").exists() and self.ctl / "report.json", 20, "a report")
        return json.loads(path.read_text())

    def click(self, prefix: str) -> str:
        (self.ctl / "clicked.json").unlink(missing_ok=True)
        (self.ctl / "click").write_text(prefix)
        path = wait_for(lambda: (self.ctl / "clicked.json").exists() and self.ctl / "clicked.json", 20, "a click")
        label = json.loads(path.read_text())["label"]
        assert label.startswith(prefix), f"no enabled menu item {prefix!r}: {self.report()['menu_items']}"
        return label

    def item(self, prefix: str) -> dict:
        return next(i for i in self.report()["menu_items"] if i["label"].startswith(prefix))

    def pages_opened(self) -> list[str]:
        return self.opened.read_text().split() if self.opened.exists() else []

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            (self.ctl / "quit").write_text("1")
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def agent_pid(api_file: Path) -> int:
    return int(json.loads(api_file.read_text())["pid"])


def client(api_file: Path):
    from tray_agent.common.api_client import find_agent

    return find_agent(api_file)


def stop_agent(pid: int) -> None:
    """SIGTERM the agent the tray started (by its pid from api.json), SIGKILL if it does not end."""
    try:
        p = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    p.send_signal(signal.SIGTERM)
    if not gone(pid, 30):
        p.kill()
        assert gone(pid, 10), f"agent {pid} did not end"


def gone(pid: int, timeout: float) -> bool:
    """The process ended and was reaped by its parent (a zombie left by the tray would count as a leak)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def module_trayer():
    """trayer (XEmbed tray host) for the whole module; the conftest one is per test."""
    import shutil

    need(bool(os.environ.get("DISPLAY")), "an X display (Xvfb from scripts/test.sh)")
    need(bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS")), "a D-Bus session (dbus-run-session from scripts/test.sh)")
    exe = shutil.which("trayer")
    need(exe is not None, "trayer (apt install trayer)")
    from tray_agent.tray.hosts import xembed_tray_present

    proc = subprocess.Popen([exe, "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width", "200",
                             "--height", "32", "--SetDockType", "true"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_for(xembed_tray_present, 10, "trayer to take the system tray selection")
    yield proc
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def tray(tmp_path_factory, module_trayer, docker_ready):  # noqa: F811
    from tray_agent.tray.hosts import appindicator_available

    assert appindicator_available(), "PyGObject + AyatanaAppIndicator3 must be installed (linux-tray extra)"
    t = Tray(tmp_path_factory.mktemp("tray-e2e"))
    assert not t.api_file.exists()
    t.start()
    pids: set[int] = set()
    t.agent_pids = pids
    try:
        yield t
    finally:
        c = client(t.api_file)
        if c is not None:
            pids.add(c.info.pid)
        t.stop()
        for pid in pids:
            stop_agent(pid)
        cleanup_containers(f"devnet-{PROFILE}")
        (ROOT / "test-output").mkdir(exist_ok=True)
        (ROOT / "test-output" / "tray-e2e.log").write_text(t.tail())
        agent_log = t.home / PROFILE / "logs" / "agent.log"
        if agent_log.exists():
            (ROOT / "test-output" / "tray-e2e-agent.log").write_text(agent_log.read_text(errors="replace")[-200_000:])


def login_lands_on(url: str) -> str:
    """Follow nothing: the agent must accept the one-time code and redirect to the page (returns its Location)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(url, timeout=10)
    except urllib.error.HTTPError as e:
        assert e.code in (302, 303, 307), (e.code, url)
        return e.headers["Location"]
    raise AssertionError(f"the agent did not redirect {url}")


def test_tray_starts_the_agent_when_none_runs(tray):
    wait_for(lambda: (tray.ctl / "ready").exists(), 120, f"the tray to attach to the agent it started:\n{tray.tail()}")
    c = wait_for(lambda: client(tray.api_file), 30, "the agent to answer")
    tray.agent_pids.add(c.info.pid)
    tray_pid = int((tray.ctl / "pid").read_text())
    agent = psutil.Process(c.info.pid)
    assert c.info.pid != tray_pid and "serve" in agent.cmdline() and "--headless" in agent.cmdline()
    assert PROFILE in agent.cmdline() and "devnet" in agent.cmdline()
    rep = tray.report()
    assert rep["connected"] and rep["backend"] == "pystray._appindicator" and rep["visible"]
    assert rep["state"] == c.status().state.value == "setup_needed"
    assert rep["menu"][1] == "Finish setup…"


def test_each_menu_action_reaches_the_agent(tray):
    c = client(tray.api_file)
    st = onboard(c, "Tray-E2E-Password-1")
    assert st["state"] == "online", st
    wait_for(lambda: tray.report()["state"] == "online", 30, "the tray to show online")

    def history(kind: str) -> list[dict]:
        return [i for i in c.get(f"/api/history?kind={kind}&limit=5")["items"]]

    def ran(kind: str, before: int) -> bool:
        items = history(kind)
        return len(items) > before and items[0].get("state") == "done"

    # Stop of a registered worker opens the dashboard's Stop confirmation (issue 13 §2) and stops nothing itself
    wait_for(lambda: tray.item("Stop worker")["enabled"], 60, "Stop worker enabled")
    before, n = len(history("stop")), len(tray.pages_opened())
    tray.click("Stop worker")
    url = wait_for(lambda: tray.pages_opened()[n:] and tray.pages_opened()[n], 30, "the Stop confirmation page")
    assert parse_qs(urlparse(url).query)["next"] == ["/ui/dashboard.html?confirm=stop"], url
    assert len(history("stop")) == before and c.status().state.value == "online"
    c.op("stop")  # what the page posts once the user confirms
    wait_for(lambda: ran("stop", before), 120, "the stop operation (confirmed)")
    wait_for(lambda: c.status().state.value == "paused", 60, "state paused after stop")
    for label, kind, state in (("Start worker", "start", "online"), ("Restart worker", "restart", "online")):
        wait_for(lambda lb=label: tray.item(lb)["enabled"], 60, f"{label} enabled")
        before = len(history(kind))
        tray.click(label)
        wait_for(lambda k=kind, b=before: ran(k, b), 120, f"the {kind} operation to run in the agent")
        wait_for(lambda s=state: c.status().state.value == s, 60, f"state {state} after {kind}")

    # money actions: the confirmation page opens (a window child → browser), nothing is posted by the tray
    ops_before = {k: len(history(k)) for k in ("settle", "deregister")}
    pages = {"Settle earnings": "/ui/dashboard.html?confirm=settle", "Deregister": "/ui/settings.html?confirm=deregister",
             "Withdraw…": "/ui/withdraw.html", "Models this worker serves…": "/ui/models.html",
             "Speed test…": "/ui/speedtest.html", "Recover a replaced key…": "/ui/recover.html",
             "Open dashboard": "/ui/dashboard.html"}
    for label, page in pages.items():
        wait_for(lambda lb=label: tray.item(lb)["enabled"], 30, f"{label} enabled")
        n = len(tray.pages_opened())
        tray.click(label)
        url = wait_for(lambda m=n: tray.pages_opened()[m:] and tray.pages_opened()[m], 30, f"the page of {label}")
        assert parse_qs(urlparse(url).query)["next"] == [page], (label, url)
        assert urlparse(login_lands_on(url)).path == urlparse(page).path  # the agent took the one-time code
        # the window manager's pid file is gone once the child handed the page over
        kind = {"Settle earnings": "settle", "Deregister": "deregister"}.get(label)
        if kind:
            assert len(history(kind)) == ops_before[kind]

    # settings toggles round-trip through the agent
    if c.status().keep_awake_available:
        ka = c.settings()["keep_awake"]
        tray.click("Keep machine awake")
        wait_for(lambda: c.settings()["keep_awake"] is (not ka), 20, "keep-awake to change in the agent")
    else:  # this session bus has no power manager: the item says so and cannot be ticked (issue 13 §1)
        item = tray.item("Keep machine awake")
        assert "unavailable" in item["label"] and not item["enabled"], item
    assert c.settings()["autostart"] is True  # onboarding turned start at login on, visibly
    tray.click("Start at login")
    wait_for(lambda: c.settings()["autostart"] is False, 30, "autostart to turn off in the agent")
    tray.click("Start at login")
    wait_for(lambda: c.settings()["autostart"] is True, 30, "autostart to turn on again")
    assert not [n for n in tray.report()["notified"] if n[0] == "Could not do that"]


def test_tray_reconnects_after_the_agent_restarts(tray):
    c = client(tray.api_file)
    old = c.info.pid
    stop_agent(old)
    wait_for(lambda: not tray.report()["connected"], 30, "the tray to notice the agent is gone")
    assert "Agent not reachable" in tray.report()["menu"][0]
    env = dict(tray.env)
    env.pop("PYTHONPATH")
    log = open(tray.home / "agent-restart.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen([sys.executable, "-m", "tray_agent", "--profile", PROFILE, "--network", "devnet",
                             "--secrets-file", str(tray.secrets), "serve", "--headless"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=str(ROOT), start_new_session=True)
    log.close()
    threading.Thread(target=proc.wait, daemon=True).start()  # reap it: this test is its parent
    tray.agent_pids.add(proc.pid)
    rep = wait_for(lambda: (r := tray.report())["connected"] and r, 90, "the tray to reconnect to the new agent")
    assert client(tray.api_file).info.pid == proc.pid != old
    wait_for(lambda: tray.report()["state"] == "online", 90, "online again after the restart")
    assert rep["icon_key"].split("+")[0] in ("starting", "online")


def test_tray_shows_busy_during_an_operation(tray):
    wait_for(lambda: tray.item("Restart worker")["enabled"], 60, "restart enabled")
    tray.click("Restart worker")
    rep = wait_for(lambda: (r := tray.report())["busy_seen"] and r, 30, "a busy tooltip while restart runs")
    assert any("restart running" in t for t in rep["busy_seen"]), rep["busy_seen"]


def test_quit_and_stop_ends_tray_and_agent(tray):
    pid = client(tray.api_file).info.pid
    tray.click("Quit and stop the worker")
    assert tray.proc.wait(30) == 0
    assert gone(pid, 60), "the agent did not stop"
    assert client(tray.api_file) is None
