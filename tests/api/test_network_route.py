"""GET /api/network: the running network's constants, and which of them are assumed rather than confirmed."""

import httpx
import pytest

from tray_agent.api.server import ApiServer
from tray_agent.core.agent import Agent
from tray_agent.core.networks import load_networks


@pytest.fixture
def server(paths, tmp_path):
    agent = Agent(paths, "testnet", secrets_file=tmp_path / "secrets.json", manage_worker=False)
    srv = ApiServer(agent)
    agent.api_token = srv.token
    srv.start()
    yield srv
    srv.stop()
    agent.history.close()


def test_network_route_names_assumed_values(server):
    r = httpx.get(f"http://127.0.0.1:{server.port}/api/network", headers={"Authorization": f"Bearer {server.token}"})
    assert r.status_code == 200
    d = r.json()
    assert d["name"] == "testnet" and d["chain_id"] == 8200
    assert "explorer_url" in d["assumed"] and "rpc_url" not in d["assumed"]


def test_every_unconfirmed_mainnet_value_is_marked():
    main = load_networks()["mainnet"]
    # networks.md: mainnet image, gateway, session manager and sortition are anchor-only or unknown
    assert {"image", "gateway_url", "session_manager", "sortition_enabled"} <= set(main.assumed)
    assert "chain_id" not in main.assumed and "worker_registry" not in main.assumed  # verified values
