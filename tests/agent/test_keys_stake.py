"""Top-up, reinstate, remove worker, key archive with the on-chain 'still staked' flag, and recover."""

from __future__ import annotations

import pytest

from tests.harness import PASSWORD, AgentProc, ApiClient, ApiError, docker_client_or_none, wait_op
from tests.polling import wait_for

PROFILE = "keys"


@pytest.fixture(scope="module")
def agent(tmp_path_factory, docker_ready):
    a = AgentProc(tmp_path_factory.mktemp("keys-home"), profile=PROFILE)  # the real keychain, no secrets file
    a.start(timeout=90)
    yield a
    a.cli("shutdown", "--stop-worker")
    a.cleanup(docker_client_or_none())


def onboard(client: ApiClient, password: str = PASSWORD) -> dict:
    """Onboarding on devnet through the API (funded from the devnet wallet) until online."""
    client.post("/api/onboarding/network", {"network": "devnet"})
    client.post("/api/onboarding/models", {"models": ["llama3-8b"]})
    client.post("/api/onboarding/password", {"password": password})
    assert wait_op(client, client.post("/api/ops/devnet_fund", {})["op_id"], 120)["state"] == "done"
    rec = wait_op(client, client.post("/api/onboarding/continue")["op_id"], timeout=240)
    assert rec["state"] == "done", rec
    return client.get("/api/status")


def test_top_up_and_reinstate(agent):
    c = agent.client
    st = onboard(c, "Keys-Password-1")
    assert int(st["stake_wei"]) == 5000 * 10**18
    with pytest.raises(ApiError) as e:
        c.post("/api/ops/top_up", {"amount": "1e3", "confirm": True})
    assert e.value.field == "amount"
    rec = wait_op(c, c.post("/api/ops/top_up", {"amount": "10", "confirm": True})["op_id"])
    assert rec["state"] == "done", rec
    wait_for(lambda: int(c.get("/api/status")["stake_wei"]) == 5010 * 10**18, timeout=30, what="stake 5010")
    rec = wait_op(c, c.post("/api/ops/reinstate", {})["op_id"])
    assert rec["state"] == "failed" and "not suspended" in rec["error"]["message"]


def test_cli_stop_says_the_consequence_and_asks_for_a_registered_worker(agent):
    """Issue 13 §2 in the CLI: Stop tells that jobs keep coming and time out as offences, points to Deregister,
    and needs a yes; status then shows the paused warning with the command that fixes it."""
    c = agent.client
    wait_for(lambda: c.get("/api/status")["state"] == "online", timeout=120, what="online")
    r = agent.cli("status")
    assert r.returncode == 0 and "jobs running now" in r.stdout and "claimed sessions" in r.stdout, r.stdout
    r = agent.cli("stop", input_="")  # no terminal: the confirmation cannot be asked
    assert r.returncode == 2 and "times out" in r.stdout and "Deregister instead" in r.stdout, (r.stdout, r.stderr)
    assert "add --yes" in r.stderr and c.get("/api/status")["state"] == "online"  # nothing stopped
    r = agent.cli("stop", "--yes")
    assert r.returncode == 0, (r.stdout, r.stderr)
    wait_for(lambda: "paused_with_sessions" in c.get("/api/status")["alerts"], timeout=30, what="paused warning")
    r = agent.cli("status")
    assert "Paused while registered" in r.stdout and "→ lcai-tray start" in r.stdout, r.stdout
    assert agent.cli("start").returncode == 0


def test_remove_worker_archives_key_flagged_staked(agent):
    c = agent.client
    old = c.get("/api/status")["address"]
    r = agent.cli("remove-worker", input_="")  # the CLI says what happens to the stake before it asks
    assert r.returncode == 2 and "still holds 5,010 LCAI of stake" in r.stdout and "stays with the old key" in r.stdout, r
    assert c.get("/api/keys")["active"]["address"] == old  # nothing removed without a yes
    r = agent.cli("remove-worker", "--yes", timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    keys = c.get("/api/keys")
    assert keys["active"] is None
    assert [k["address"] for k in keys["archive"]] == [old]
    assert keys["archive"][0]["still_staked"] is True  # removed locally, stake still on chain
    agent.old_id = keys["archive"][0]["id"]
    agent.old = old
    r = agent.cli("keys", "list")
    assert r.returncode == 0 and "STILL STAKED" in r.stdout
    # issue 13 §2: every surface derives "what is left" from the same facts — no key now, so setup is not done
    ob = c.get("/api/onboarding")
    assert not ob["done"] and ob["step"] != "online", ob
    wait_for(lambda: c.get("/api/status")["state"] == "setup_needed", timeout=30, what="setup needed after remove")


def test_new_key_then_recover_the_archived_one(agent):
    c = agent.client
    r = c.post("/api/onboarding/password", {"password": "Keys-Password-2"})
    assert r["created"] and r["address"] != agent.old
    with pytest.raises(ApiError) as e:
        c.post("/api/ops/recover", {"id": "not-an-archive-id"})
    assert e.value.field == "id"
    r = agent.cli("keys", "recover", agent.old_id)
    assert r.returncode == 0, r.stderr
    keys = c.get("/api/keys")
    assert keys["active"]["address"] == agent.old
    assert [k["address"] for k in keys["archive"]] == [r_addr := keys["archive"][0]["address"]] and r_addr != agent.old
    assert keys["archive"][0]["still_staked"] is False  # the new key never staked
    wait_for(lambda: c.get("/api/status")["registered"] is True, timeout=30, what="recovered key is registered")
    # issue 13 §2: restoring a staked key leads back to a running worker in one flow, and every surface agrees
    ob = c.get("/api/onboarding")
    assert ob["done"] and ob["step"] == "online", ob
    wait_for(lambda: c.get("/api/status")["container_running"] is True, timeout=120, what="the restored worker runs")
    r = agent.cli("start")
    assert r.returncode == 0, (r.stdout, r.stderr)
    r = agent.cli("setup", "--no-input")
    assert r.returncode == 0 and "setup is done" in r.stdout and agent.old in r.stdout, (r.stdout, r.stderr)


def test_switch_network_validates(agent):
    c = agent.client
    with pytest.raises(ApiError) as e:
        c.post("/api/ops/switch_network", {"network": "moonnet"})
    assert e.value.field == "network"


def test_cli_replace_key_keeps_the_stake_with_the_old_key(agent):
    """Issue 13 §2: 'keys replace' says the staked key's stake stays with it (recover or deregister it), asks, then
    archives it flagged staked; the new key starts at funding."""
    c = agent.client
    old = c.get("/api/status")["address"]
    r = agent.cli("keys", "replace", input_="")
    assert r.returncode == 2 and "stays with the old key" in r.stdout and "lcai-tray deregister" in r.stdout, r
    r = agent.cli("keys", "replace", "--yes", timeout=180)
    assert r.returncode == 0, (r.stdout, r.stderr)
    keys = c.get("/api/keys")
    assert keys["active"]["address"] != old
    assert next(k for k in keys["archive"] if k["address"] == old)["still_staked"] is True
    assert not c.get("/api/onboarding")["done"]

