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


_SESSION_START: list[float] = []


def pytest_sessionstart(session) -> None:
    import time

    _SESSION_START.append(time.time())


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    """The offences measured by test_no_offences.py in this run, on one line of the CI log (issue 12 closing note)."""
    import json

    from tests.harness.agent import ROOT

    path = ROOT / "test-output" / "offences.json"
    if not path.exists() or not _SESSION_START or path.stat().st_mtime < _SESSION_START[0]:
        return
    r = json.loads(path.read_text())
    counts = ", ".join(f"{k} {v}" for k, v in r["offences"].items() if k not in ("stop-now", "unattributed"))
    extra = f", unattributed {r['offences']['unattributed']}" if r["offences"].get("unattributed") else ""
    terminalreporter.write_line(f"offences: {counts}, stop-now {r['offences'].get('stop-now', 0)} "
                                f"(announced {r['stop_now_announced']}){extra}  [{path.relative_to(ROOT)}]")
