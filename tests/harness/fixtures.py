"""pytest fixtures of the agent harness; import them in a conftest (``from tests.harness.fixtures import ...``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, need
from tests.harness.agent import AgentDied, AgentProc, docker_client_or_none


def needs_devnet() -> None:
    from tray_agent.core.devnet import DevnetError, find_anvil

    try:
        find_anvil()
    except DevnetError:
        need(False, "anvil (scripts/bootstrap.sh installs it)")


def _docker_or_need():
    client = docker_client_or_none()
    need(client is not None, "a private dockerd (DOCKER_HOST)")
    return client


@pytest.fixture(scope="module")
def docker_ready():
    """The private dockerd and the D-Bus session keyring that agents using the OS keychain need."""
    need(bool(os.environ.get("DOCKER_HOST")), "the private dockerd (DOCKER_HOST)")
    need(bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS")), "a D-Bus session with gnome-keyring")


@pytest.fixture
def agent_factory(tmp_path_factory, docker_client, sim_image) -> Iterator[Callable[..., AgentProc]]:
    """Make AgentProc objects (not started) in fresh short homes; every one is cleaned up by PID at teardown.
    ``keyring=True`` keeps the worker key's password in the OS keychain instead of a secrets file."""
    needs_devnet()
    made: list[AgentProc] = []

    def make(profile: str = "fault", *, keyring: bool = False, **kw) -> AgentProc:
        home = Path(tmp_path_factory.mktemp("lf"))
        secrets = None if keyring else home / "secrets" / "secrets.json"
        a = AgentProc(home, profile=profile, secrets_file=secrets, **kw)
        made.append(a)
        return a

    yield make
    for a in made:
        a.cleanup(docker_client)


@pytest.fixture(scope="module")
def module_agent_factory(tmp_path_factory) -> Iterator[Callable[..., AgentProc]]:
    """Like agent_factory, but module-scoped (one agent shared by tests that do not interfere)."""
    needs_devnet()
    client = _docker_or_need()
    from tray_agent.core.runtime import images

    images.build_sim_image(client, images.SIM_IMAGE)
    made: list[AgentProc] = []

    def make(profile: str = "shared", **kw) -> AgentProc:
        home = Path(tmp_path_factory.mktemp("lm"))
        a = AgentProc(home, profile=profile, secrets_file=home / "secrets" / "secrets.json", **kw)
        made.append(a)
        return a

    yield make
    for a in made:
        a.cleanup(client)
    client.close()


@pytest.fixture(scope="module")
def real_agent(tmp_path_factory) -> Iterator[AgentProc]:
    """One devnet agent (profile ``uitest``, secrets file) for the page and window tests of a module."""
    needs_devnet()
    home = Path(tmp_path_factory.mktemp("agent-home"))
    agent = AgentProc(home, profile="uitest", secrets_file=home / "secrets.json", log_name="agent-test.log")
    try:
        agent.start(timeout=90)
    except (AgentDied, TimeoutError) as e:
        agent.cleanup(docker_client_or_none())
        need(False, f"a running devnet agent ({e})")
    yield agent
    agent.cleanup(docker_client_or_none())
    (ROOT / "test-output").mkdir(exist_ok=True)
    (ROOT / "test-output" / f"agent-{agent.profile}.log").write_text(agent.tail(200_000))
