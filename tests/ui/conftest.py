"""Fixtures of the UI tests: a stdlib fake of the agent API (tray logic), and a real devnet agent (pages, windows)
from the one agent harness."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import need

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


# the devnet agent of the page and window tests comes from the one agent harness (tests/harness)
from tests.harness.fixtures import real_agent  # noqa: E402, F401  (fixture)


def json_of(path: Path) -> dict:
    return json.loads(path.read_text())


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def shots(output_dir):
    """Where the UI tests save their screenshots (test-output/screenshots/)."""
    d = output_dir / "screenshots"
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium through Playwright, one per test module (the page, state and import tests)."""
    need(os.path.exists(CHROMIUM), "Chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
