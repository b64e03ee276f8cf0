"""Fixtures of the fault-injection tests: real agent processes on devnet (anvil + private dockerd + sim worker)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import need
from tests.faults.harness import AgentProc, docker_client_or_none
from tests.plugins.docker import docker_client, sim_image  # noqa: F401


def _needs_devnet() -> None:
    from tray_agent.core.devnet import DevnetError, find_anvil

    try:
        find_anvil()
    except DevnetError:
        need(False, "anvil (scripts/bootstrap.sh installs it)")


@pytest.fixture
def agent_factory(tmp_path_factory, docker_client, sim_image) -> Iterator[Callable[..., AgentProc]]:  # noqa: F811
    """Make AgentProc objects (not started) in fresh short homes; every one is cleaned up by PID at teardown."""
    _needs_devnet()
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
    _needs_devnet()
    client = docker_client_or_none()
    need(client is not None, "a private dockerd (DOCKER_HOST)")
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


def need_root_dockerd() -> None:
    need(os.geteuid() == 0 and shutil.which("dockerd") is not None, "root + dockerd for a private engine")
