"""Deregister decrypts the worker keystore once per transaction it sends, never once per poll (issue 12 §6).

A real agent on devnet with completed jobs still inside the dispute window: Deregister has to wait (a countdown on
chain time; the agent keeps it as a schedule and looks at it every refresh round) before it can settle and
deregister. The agent logs each keystore decryption
("worker keystore decrypted"); the worker's nonce on anvil counts the transactions it sent. Public behaviour only,
so the test holds for any schedule of the exit flow: no decryption while it waits, and at most two per operation
(the preflight's password check and one unlock for signing), however many transactions it sends.
"""

from __future__ import annotations

import time

import pytest

from tests.harness import AgentProc, Chain, make_releasable, online_agent
from tests.polling import wait_for

PROFILE = "deregkey"
DECRYPTED = "worker keystore decrypted"
REFRESH_S = 5.0  # the agent's refresh round on devnet
pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def agent(tmp_path_factory, docker_ready):
    with online_agent(tmp_path_factory.mktemp("deregkey-home"), PROFILE) as a:
        yield a


def _decrypted(agent: AgentProc) -> int:
    return agent.tail(2_000_000).count(DECRYPTED)


def test_deregister_decrypts_once_per_send_not_per_poll(agent):
    address = agent.status()["address"]
    make_releasable(agent, 3, advance_s=0)  # completed jobs inside the 60 s dispute window: deregister must wait
    chain = Chain(agent.rpc_url())
    nonce0 = chain.nonce(address)
    log0 = _decrypted(agent)
    r = agent.post("/api/ops/deregister", {"confirm": True})
    assert r.status == 202, r.body
    rec = agent.wait_op(r.body["op_id"], timeout=240)
    assert rec["state"] == "done" and rec["result"]["scheduled"], rec  # the wait is a schedule, not an operation
    assert agent.status()["deregister_at"] > 0
    early = _decrypted(agent) - log0
    time.sleep(4 * REFRESH_S)  # the refresh loop looks at the schedule every round: no decryption for a look
    mid = _decrypted(agent) - log0
    assert mid == early, f"{mid - early} keystore decryptions in {4 * REFRESH_S:.0f} s of waiting that sent nothing"
    chain.call("evm_increaseTime", [120])  # past the dispute window without a minute of wall time
    chain.call("evm_mine", [])
    wait_for(lambda: agent.status()["registered"] is False and not agent.status()["operation"], timeout=240,
             what="the scheduled final step to deregister")
    sent = chain.nonce(address) - nonce0
    decrypted = _decrypted(agent) - log0
    assert sent >= 1, "deregister sent nothing"
    ops = [o for o in agent.get("/api/history?limit=20").body["items"] if o["kind"] == "deregister"]
    assert len(ops) == 2, ops  # the one the user started (it scheduled) and the final step the agent ran
    # per operation at most two: preflight proves the password decrypts (a BLOCK check), then one unlock to sign
    assert 1 <= decrypted <= 2 * len(ops), f"{decrypted} keystore decryptions for {len(ops)} operations ({sent} txs)"


def test_a_repeated_deregister_is_a_clear_error_and_sends_nothing(agent):
    """Issue 13 §3: once the stake is back, 'deregister' again is a no-op error (CLI exit 1 with the reason and the
    fix), not "stake 0 returned" with exit 0; nothing is sent."""
    wait_for(lambda: agent.status()["registered"] is False and not agent.status()["operation"], timeout=240,
             what="the worker deregistered (the test above)")
    address = agent.status()["address"]
    chain = Chain(agent.rpc_url())
    nonce0 = chain.nonce(address)
    r = agent.cli("deregister", "--yes")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "error: this worker is not registered: there is no stake to return" in r.stderr, r.stderr
    assert "fix:   withdraw the wallet balance with Withdraw funds" in r.stderr and "returned" not in r.stdout, r.stdout
    assert chain.nonce(address) == nonce0
    last = agent.get("/api/history?kind=deregister&limit=1").body["items"][0]
    assert last["state"] == "failed" and last["error"]["code"] == "not_registered", last
