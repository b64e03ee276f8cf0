"""Status.operation is live: set while an exclusive operation runs (so the tray and dashboard show and block on it),
cleared when it ends; a second exclusive operation is refused, not queued."""

from __future__ import annotations

import threading

import pytest

from tests.polling import wait_for
from tray_agent.common.errors import BusyError
from tray_agent.common.paths import Paths
from tray_agent.core.agent import Agent


@pytest.fixture()
def agent(tmp_path, monkeypatch):
    monkeypatch.setenv("LCAI_TRAY_HOME", str(tmp_path / "home"))
    a = Agent(Paths.for_profile("opstatus"), "devnet", secrets_file=tmp_path / "s.json", manage_worker=False)
    yield a
    a.owner.close()
    a.history.close()


def test_operation_is_in_the_status_while_it_runs(agent):
    gate = threading.Event()
    seen = []
    sid, q = agent.bus.subscribe({"status"})
    op = agent.runner.submit("settle", lambda p: gate.wait(10) and {"ok": True})
    wait_for(lambda: agent.status().operation == "settle", timeout=5, what="operation in status")
    with pytest.raises(BusyError):
        agent.runner.submit("withdraw", lambda p: None)
    gate.set()
    op.done.wait(10)
    wait_for(lambda: agent.status().operation == "", timeout=5, what="operation cleared")
    while not q.empty():
        seen.append(q.get().data.get("operation"))
    assert "settle" in seen and seen[-1] == ""  # subscribers (tray, dashboard) saw it start and end
    agent.bus.unsubscribe(sid)


def test_side_operations_do_not_mark_the_agent_busy(agent):
    gate = threading.Event()
    op = agent.runner.submit("devnet_fund", lambda p: gate.wait(10), exclusive=False)
    assert agent.status().operation == ""
    gate.set()
    op.done.wait(10)
