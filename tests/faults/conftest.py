"""Fixtures of the fault-injection tests: real agent processes on devnet (anvil + private dockerd + sim worker),
from the one agent harness (tests/harness)."""

from __future__ import annotations

import os
import shutil

from tests.conftest import need
from tests.harness.fixtures import agent_factory, module_agent_factory  # noqa: F401  (fixtures)
from tests.harness.fixtures import needs_devnet as _needs_devnet  # noqa: F401
from tests.plugins.docker import docker_client, sim_image  # noqa: F401


def need_root_dockerd() -> None:
    need(os.geteuid() == 0 and shutil.which("dockerd") is not None, "root + dockerd for a private engine")
