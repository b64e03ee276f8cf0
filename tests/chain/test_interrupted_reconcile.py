"""After a kill, "was it mined?" is answered by the transaction's own hash, not by the key's nonce.

The worker container signs with the same key as the app. If the agent dies after announcing a transaction but
before broadcasting it, the container may then use that nonce: the key's mined nonce moves past it although the
app's transaction never existed. A nonce comparison would then tell the user "it was mined: do not send it again"
for a withdrawal that moved nothing. Real anvil, real History, the runner's journal hook.
"""

from __future__ import annotations

import pytest

from tray_agent.core.chain.ops.context import announce
from tray_agent.core.history import History
from tray_agent.core.interrupted_ops import reconcile


class Stop(Exception):
    """Stands for the kill between the write-ahead record and the broadcast."""


def _op(history: History, kind: str = "withdraw") -> tuple[dict, list]:
    """An operation as the runner runs it: stored progress plus the full-hash journal it hangs on ``progress``."""
    history.op_started("op1", kind, "devnet", {})
    items: list = []

    def progress(message: str, fraction: float | None = None) -> None:
        items.append({"i": len(items), "message": message, "fraction": fraction})
        history.op_progress("op1", items)

    progress.record_tx = lambda h, n: history.op_tx("op1", h, n)  # type: ignore[attr-defined]
    return progress, items


def _reconciled(history: History, chain, address: str) -> dict:
    op = history.mark_interrupted()[0]
    reconcile(op, history, chain.client, address)
    return history.op("op1")["error"]


def test_a_nonce_the_container_used_after_the_kill_is_not_reported_as_our_transaction(chain, tmp_path):
    w = chain.new_worker()
    history = History(tmp_path / "history.sqlite")
    progress, _ = _op(history)
    s = chain.sender(w)

    def killed(tx_hash: str, nonce: int) -> None:
        announce("transfer", progress)(tx_hash, nonce)
        raise Stop  # the agent dies here: announced, never broadcast

    with pytest.raises(Stop):
        s.send(w.address, "0x", 5, gas=21000, on_signed=killed)
    assert chain.client.nonce(w.address, "latest") == 0
    chain.sender(w).send(w.address, "0x", 1, gas=21000)  # the container's own transaction takes nonce 0
    assert chain.client.nonce(w.address, "latest") == 1

    err = _reconciled(history, chain, w.address)
    assert "was not mined" in err["message"], err
    assert err["fix"] == "nothing was sent: run it again"


def test_a_broadcast_transaction_is_found_by_its_hash(chain, tmp_path):
    w = chain.new_worker()
    history = History(tmp_path / "history.sqlite")
    progress, _ = _op(history)
    res = chain.sender(w).send(w.address, "0x", 5, gas=21000, on_signed=announce("transfer", progress))
    assert history.op_txs("op1") == [(res.tx_hash, 0)]

    err = _reconciled(history, chain, w.address)
    assert "was mined" in err["message"] and "do not send it again" in err["fix"], err


def test_a_transaction_waiting_to_be_mined_says_wait_not_run_again(chain, tmp_path):
    """Broadcast before the kill and still in the node's pool (automine off): "run it again" would send a second
    withdrawal once the first is mined, so the fix says to wait."""
    w = chain.new_worker()
    history = History(tmp_path / "history.sqlite")
    progress, _ = _op(history)
    chain.dn.rpc("anvil_setAutomine", [False])
    try:
        pending = chain.sender(w).send(w.address, "0x", 5, gas=21000, wait=False, on_signed=announce("transfer", progress))
        err = _reconciled(history, chain, w.address)
        assert chain.client.receipt(pending) is None
    finally:
        chain.dn.rpc("anvil_setAutomine", [True])
        chain.dn.rpc("evm_mine", [])
    assert "was sent and is waiting to be mined" in err["message"], err
    assert "do not send it again" in err["fix"] and "run it again" not in err["fix"], err
