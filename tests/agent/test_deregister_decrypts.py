"""Deregister decrypts the worker keystore once per transaction it sends, never once per poll (issue 12 §6).

A real agent on devnet with completed jobs still inside the dispute window: Deregister has to wait (a countdown on
chain time, polled every few seconds) before it can settle and deregister. The agent logs each keystore decryption
("worker keystore decrypted"); the worker's nonce on anvil counts the transactions it sent. Public behaviour only,
so the test holds for any schedule of the exit flow: decryptions <= transactions sent, while the polls outnumber
both.
"""

from __future__ import annotations

import pytest

from tests.harness import AgentProc, Chain, docker_client_or_none, make_releasable
from tests.polling import wait_for

PROFILE = "deregkey"
DECRYPTED = "worker keystore decrypted"
pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def agent(tmp_path_factory, docker_ready):
    a = AgentProc(tmp_path_factory.mktemp("deregkey-home"), profile=PROFILE)
    a.start(timeout=90)
    try:
        a.onboard(timeout=240)
        a.wait_state("online", timeout=120)
        yield a
    finally:
        a.cli("shutdown", "--stop-worker")
        a.cleanup(docker_client_or_none())


def _waits(agent: AgentProc, op_id: str) -> int:
    return sum("waiting" in p["message"] for p in agent.get(f"/api/ops/{op_id}").body["progress"])


def test_deregister_decrypts_once_per_send_not_per_poll(agent):
    address = agent.status()["address"]
    make_releasable(agent, 3, advance_s=0)  # completed jobs inside the 60 s dispute window: deregister must wait
    chain = Chain(agent.rpc_url())
    nonce0 = chain.nonce(address)
    log0 = agent.tail(2_000_000).count(DECRYPTED)
    r = agent.post("/api/ops/deregister", {"confirm": True})
    assert r.status == 202, r.body
    op_id = r.body["op_id"]
    wait_for(lambda: _waits(agent, op_id) >= 2, timeout=120, what="the deregister waiting")
    early = agent.tail(2_000_000).count(DECRYPTED) - log0
    wait_for(lambda: _waits(agent, op_id) >= 7, timeout=120, what="five more polls of the deregister wait")
    mid = agent.tail(2_000_000).count(DECRYPTED) - log0
    polls = _waits(agent, op_id)
    assert mid == early, f"{mid - early} keystore decryptions during {polls - 2} polls that sent nothing"
    chain.call("evm_increaseTime", [120])  # past the dispute window without a minute of wall time
    chain.call("evm_mine", [])
    rec = agent.wait_op(op_id, timeout=240)
    assert rec["state"] == "done", rec
    assert agent.status()["registered"] is False
    sent = chain.nonce(address) - nonce0
    decrypted = agent.tail(2_000_000).count(DECRYPTED) - log0
    assert sent >= 1, "deregister sent nothing"
    assert 1 <= decrypted <= sent, f"{decrypted} keystore decryptions for {sent} transactions ({polls} polls)"
