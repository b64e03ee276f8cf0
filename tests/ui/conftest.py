"""Fixtures of the UI tests: a stdlib fake of the agent API (tray logic), and a real devnet agent (pages, windows)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, need

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from ui_fakes import FakeAgent  # noqa: E402


@pytest.fixture
def fake_agent(paths):
    agent = FakeAgent(paths.api_file).start()
    yield agent
    agent.stop()


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY"))


@pytest.fixture
def display():
    need(_has_display(), "an X display (Xvfb from scripts/test.sh)")
    return os.environ["DISPLAY"]


@pytest.fixture
def dbus_session():
    need(bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS")), "a D-Bus session (dbus-run-session from scripts/test.sh)")
    return os.environ["DBUS_SESSION_BUS_ADDRESS"]


@pytest.fixture
def trayer(display):
    """An XEmbed system tray host (trayer) on the test display, stopped by its pid."""
    exe = shutil.which("trayer")
    need(exe is not None, "trayer (apt install trayer)")
    proc = subprocess.Popen([exe, "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width", "200",
                             "--height", "32", "--SetDockType", "true"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    from tray_agent.tray.hosts import xembed_tray_present

    deadline = time.monotonic() + 10
    while not xembed_tray_present() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert xembed_tray_present(), "trayer did not take the system tray selection"
    yield proc
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RealAgent:
    """`lcai-tray --profile uitest --network devnet serve --headless` in an isolated LCAI_TRAY_HOME."""

    def __init__(self, home: Path, profile: str = "uitest", network: str = "devnet"):
        self.home, self.profile, self.network = home, profile, network
        self.env = dict(os.environ, LCAI_TRAY_HOME=str(home), LCAI_TRAY_PROFILE=profile, PYTHONUNBUFFERED="1")
        self.log = home / "agent-test.log"
        self.proc: subprocess.Popen | None = None

    @property
    def api_file(self) -> Path:
        return self.home / self.profile / "run" / "api.json"

    def start(self, timeout: float = 90) -> RealAgent:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            # --secrets-file: an explicit, test-only opt-in so the agent does not depend on the session keyring
            self.proc = subprocess.Popen([sys.executable, "-m", "tray_agent", "--profile", self.profile, "--network",
                                          self.network, "--secrets-file", str(self.home / "secrets.json"), "serve",
                                          "--headless"], env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=str(ROOT), start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}: {self.tail()}")
            client = self.client()
            if client is not None and client.ping():
                return self
            time.sleep(0.3)
        raise RuntimeError(f"agent did not answer within {timeout} s: {self.tail()}")

    def client(self):
        from tray_agent.common.api_client import ApiClient

        return ApiClient.from_api_file(self.api_file)

    def tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _agent_available() -> bool:
    return (ROOT / "tray_agent" / "api" / "server.py").is_file() and (ROOT / "tray_agent" / "cli.py").is_file()


@pytest.fixture(scope="module")
def real_agent(tmp_path_factory):
    need(_agent_available(), "the agent API server (tray_agent/api/server.py)")
    agent = RealAgent(tmp_path_factory.mktemp("agent-home"))
    try:
        agent.start()
    except RuntimeError as e:
        agent.stop()
        need(False, f"a running devnet agent ({e})")
    yield agent
    agent.stop()
    (ROOT / "test-output").mkdir(exist_ok=True)
    (ROOT / "test-output" / f"agent-{agent.profile}.log").write_text(agent.tail(200_000))


def json_of(path: Path) -> dict:
    return json.loads(path.read_text())
