"""Install order (reference app §12): with Docker unreachable, onboarding stops before registering and stakes
nothing; the failure names Docker and the fix. Real agent, anvil and replicas; Docker is made unreachable for this
agent only by pointing DOCKER_HOST at a socket nobody serves."""

from __future__ import annotations

import pytest
from agent.agent_harness import AgentProc, wait_op

PROFILE = "order"


@pytest.fixture()
def agent(tmp_path):
    a = AgentProc(tmp_path / "home", PROFILE, extra_env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",
                                                         "LCAI_DOCKER_AUTOSTART": "0"})
    a.client = a.start()
    yield a
    a.stop()


def test_docker_down_stops_onboarding_before_any_stake(agent):
    c = agent.client
    c.post("/api/onboarding/network", {"network": "devnet"})
    c.get("/api/hardware")
    c.post("/api/onboarding/models", {"models": ["llama3-8b"]})
    address = c.post("/api/onboarding/password", {"password": "Order-Password-123"})["address"]
    assert wait_op(c, c.post("/api/ops/devnet_fund", {})["op_id"])["state"] == "done"
    wallet_before = int(c.get("/api/status")["wallet_wei"] or 0)
    rec = wait_op(c, c.post("/api/onboarding/continue")["op_id"], timeout=120)
    assert rec["state"] == "failed" and rec["error"]["code"] == "docker_down", rec
    assert "nothing was staked" in rec["error"]["message"] and "Docker" in rec["error"]["fix"]
    st = c.get("/api/status")
    assert st["address"] == address and st["registered"] is False and st["stake_wei"] == "0"
    assert int(st["wallet_wei"]) >= wallet_before  # no stake left the wallet
