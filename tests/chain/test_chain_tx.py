"""TxSender: EIP-1559 vs legacy, receipt timeout, mined-revert decoding, fee-bump replacement of a stuck tx."""

from __future__ import annotations

import pytest

from tests.conftest import need
from tray_agent.core.chain import ChainClient, TxReverted, TxSender, TxTimeout
from tray_agent.core.devnet import free_port, start_devnet


def test_eip1559_used_when_base_fee(chain):
    w = chain.new_worker()
    s = chain.sender(w)
    res = s.send(w.address, "0x", 1, gas=21000)
    tx = chain.client.rpc.call("eth_getTransactionByHash", [res.tx_hash])
    assert tx["type"] == "0x2" and int(tx["chainId"], 16) == 31337
    assert res.fee_wei == 21000 * res.effective_gas_price > 0


def test_legacy_fees_without_base_fee(tmp_path):
    """A pre-London chain (no baseFeePerGas) gets a legacy gasPrice transaction."""
    import subprocess

    from tray_agent.core.devnet import _rpc_ready, find_anvil
    from tray_agent.core.networks import get_network

    try:
        anvil = find_anvil()
    except Exception:
        need(False, "anvil (scripts/bootstrap.sh installs it)")
    port = free_port()
    log = tmp_path / "anvil.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([anvil, "--host", "127.0.0.1", "--port", str(port), "--chain-id", "31337",
                                 "--hardfork", "berlin"], stdout=f, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _rpc_ready(url, 31337, 15, proc, log)
        client = ChainClient(get_network("devnet").replace(rpc_url=url))
        from eth_account import Account

        acct = Account.create()
        client.rpc.call("anvil_setBalance", [acct.address, hex(10**18)])
        s = TxSender(client, bytes(acct.key), poll_s=0.02)
        fees = s.fees()
        assert "gasPrice" in fees and "maxFeePerGas" not in fees
        res = s.send(acct.address, "0x", 1, gas=21000)
        tx = client.rpc.call("eth_getTransactionByHash", [res.tx_hash])
        assert tx["type"] == "0x0"
    finally:
        proc.terminate()
        proc.wait(10)


def test_mined_revert_is_decoded(chain):
    """A tx that passes no estimate (explicit gas) and reverts on-chain: TxReverted with the custom error."""
    w = chain.new_worker()
    chain.register(w)
    jid = chain.completed_job(w)
    s = chain.sender(w)
    with pytest.raises(TxReverted) as ei:
        s.send(chain.jr.address, chain.jr.encode("releaseJob", jid), gas=200_000)
    e = ei.value
    assert e.error_name == "DisputeWindowNotElapsed" and e.tx_hash and e.eta == chain.job(jid)["completedAt"] + 60
    assert e.to_dict()["code"] == "tx_reverted"


def test_receipt_timeout_then_fee_bump_replacement(chain):
    w = chain.new_worker()
    chain.dn.rpc("anvil_setAutomine", [False])
    s = chain.sender(w)
    stuck_hash = s.send(w.address, "0x", 7, gas=21000, wait=False)
    with pytest.raises(TxTimeout) as ei:
        s.wait(stuck_hash, 0, timeout_s=0.3)
    assert ei.value.tx_hash == stuck_hash
    assert "not mined" in ei.value.message
    latest, pending = s.pending_gap()
    assert pending == latest + 1
    old = chain.client.rpc.call("eth_getTransactionByHash", [stuck_hash])
    new_hash = s.speed_up(wait=False)
    assert new_hash != stuck_hash
    new = chain.client.rpc.call("eth_getTransactionByHash", [new_hash])
    assert int(new["maxFeePerGas"], 16) >= 2 * int(old["maxFeePerGas"], 16)
    assert int(new["maxPriorityFeePerGas"], 16) >= 2 * int(old["maxPriorityFeePerGas"], 16)
    assert new["nonce"] == old["nonce"] and new["value"] == old["value"]  # same call, higher fees
    chain.dn.rpc("anvil_setAutomine", [True])
    chain.mine()
    rcpt = chain.client.rpc.call("eth_getTransactionReceipt", [new_hash])
    assert rcpt and rcpt["status"] == "0x1"
    assert chain.client.rpc.call("eth_getTransactionReceipt", [stuck_hash]) is None  # replaced, never mined
    assert s.pending_gap()[0] == s.pending_gap()[1] == 1


def test_speed_up_without_pending_is_refused(chain):
    from tray_agent.core.chain import ChainError

    w = chain.new_worker()
    with pytest.raises(ChainError, match="no pending"):
        chain.sender(w).speed_up()


def test_devnet_chain_id_override(tmp_path):
    """chain id plumbing: a devnet on 8200 is refused by the 31337 profile, accepted by its own network()."""
    dn = start_devnet(tmp_path / "dn8200", chain_id=8200, state=False, reuse=False)
    try:
        from tray_agent.core.chain import WrongChain
        from tray_agent.core.networks import get_network

        with pytest.raises(WrongChain):
            ChainClient(get_network("devnet").replace(rpc_url=dn.rpc_url)).ensure_chain()
        assert ChainClient(dn.network()).ensure_chain() == 8200
    finally:
        dn.stop()
