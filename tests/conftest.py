"""Shared fixtures. Services (dockerd, Xvfb, D-Bus keyring) come from scripts/test.sh; anvil is started here.

Outside CI a missing service skips its tests; under CI=true it fails them, so a broken .ci/run cannot pass quietly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Fixture plugins owned by each area (chain, docker, ollama, ...): every module in tests/plugins/.
pytest_plugins = sorted(
    f"plugins.{p.stem}" for p in (Path(__file__).parent / "plugins").glob("*.py") if p.stem != "__init__"
)
OUTPUT = ROOT / "test-output"
IN_CI = os.environ.get("CI", "").lower() == "true"
# the devnet's simulated peer workers take jobs away from the worker under test: off unless a test turns them on
os.environ.setdefault("LCAI_DEVNET_PEERS", "0")


def need(condition: bool, what: str) -> None:
    """Skip locally, fail in CI, when a real part the test needs is not there."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is not available under CI (scripts/test.sh should have started it)")
    pytest.skip(f"{what} not available")


@pytest.fixture
def lcai_home(tmp_path, monkeypatch):
    """Isolated profile root: every path of the app goes below tmp_path."""
    home = tmp_path / "lcai-home"
    monkeypatch.setenv("LCAI_TRAY_HOME", str(home))
    monkeypatch.setenv("LCAI_TRAY_PROFILE", "test")
    return home


@pytest.fixture
def paths(lcai_home):
    from tray_agent.common.paths import Paths

    return Paths.for_profile("test").ensure()


@pytest.fixture
def file_keyring(tmp_path):
    """keyrings.alt plaintext backend pinned explicitly (unit tests only; never a runtime backend)."""
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    kr = PlaintextKeyring()
    kr.file_path = str(tmp_path / "keyring.cfg")  # type: ignore[misc]
    old = keyring.get_keyring()
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(old)


@pytest.fixture
def secret_service_keyring():
    """The real Secret Service (gnome-keyring in the D-Bus session scripts/test.sh starts)."""
    import keyring

    need(bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS")), "a D-Bus session with gnome-keyring")
    from keyring.backends import SecretService

    kr = SecretService.Keyring()
    old = keyring.get_keyring()
    keyring.set_keyring(kr)
    yield kr
    keyring.set_keyring(old)


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
