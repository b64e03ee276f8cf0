"""Devnet bootstrap (anvil + replicas, persistence, reuse), the simulated worker's JobProcessor and the consumer."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tray_agent.core.chain import ChainClient
from tray_agent.core.chain.ops import settle
from tray_agent.core.devnet import DevnetError, find_anvil, start_devnet
from tray_agent.devnet.consumer import Consumer, inject_stuck_job
from tray_agent.devnet.sim_chain import JobProcessor

ETHER = 10**18


def test_find_anvil_errors_name_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("LCAI_ANVIL", str(tmp_path / "nope"))
    with pytest.raises(DevnetError, match="LCAI_ANVIL"):
        find_anvil()
    monkeypatch.delenv("LCAI_ANVIL")
    import tray_agent.core.devnet as d

    monkeypatch.setattr(d, "_repo_root", lambda: tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DevnetError) as ei:
        find_anvil()
    assert "bash scripts/bootstrap.sh" in ei.value.fix


def test_devnet_layout(devnet):
    c = ChainClient(devnet.network())
    assert c.ensure_chain() == 31337
    snap = c.snapshot(devnet.user_wallet[0], list(devnet.models))
    assert snap.min_stake_wei == 5000 * ETHER and snap.dispute_window_s == 60
    assert snap.balance_wei >= 5050 * ETHER  # the user wallet can fund a worker
    live = {m.name: m.fee_wei for m in snap.models if m.whitelisted and m.enabled}
    assert live == devnet.models and live["llama3-8b"] == 2 * 10**16
    book = devnet.book_file.read_text()
    assert devnet.addresses["JobRegistry"] in book and oct(devnet.book_file.stat().st_mode)[-3:] == "600"
    assert devnet.network().worker_registry == "0x0000000000000000000000000000000000001002"


def test_devnet_persists_across_restart_and_reuses_running(tmp_path):
    from eth_account import Account

    dn = start_devnet(tmp_path / "dn")
    try:
        acct = Account.create()
        dn.set_balance(acct.address, 7 * ETHER)
        again = start_devnet(tmp_path / "dn")  # still running: reused, same process
        assert again.pid == dn.pid and again.rpc_url == dn.rpc_url
    finally:
        dn.stop()
    assert not dn.alive() and dn.state_file.exists()
    dn2 = start_devnet(tmp_path / "dn")
    try:
        assert dn2.pid != dn.pid and dn2.addresses == dn.addresses
        assert ChainClient(dn2.network()).balance(acct.address) == 7 * ETHER  # state survived
    finally:
        dn2.stop()


def test_processor_and_consumer_drive_jobs(chain, tmp_path):
    w = chain.new_worker()
    chain.register(w, ["llama3-8b", "gpt-oss:20b"])
    proc = JobProcessor(chain.dn.rpc_url, 31337, w.key, ["llama3-8b"])
    cons = Consumer(chain.dn.rpc_url, 31337, None, ["llama3-8b"])
    ids = [cons.submit_one() for _ in range(3)]
    other = cons.submit_one(w.address, "gpt-oss:20b")  # a model this processor does not serve
    assert None not in ids and cons.submitted == 4
    out = proc.step()
    assert out["acknowledged"] == 3 and out["completed"] == 3 and out["skipped"] == 1
    assert all(chain.job(j)["state"] == 2 for j in ids) and chain.job(other)["state"] == 0
    assert proc.step()["completed"] == 0  # nothing new, nothing twice
    chain.advance(61)
    res = settle(chain.ctx(w), tmp_path / "c.json")
    assert res.released_count == 3


def test_processor_releases_like_the_container(chain, tmp_path):
    w = chain.new_worker()
    chain.register(w)
    proc = JobProcessor(chain.dn.rpc_url, 31337, w.key, ["llama3-8b"], release=True)
    cons = Consumer(chain.dn.rpc_url, 31337, None, ["llama3-8b"], worker=w.address)
    cons.submit_one()
    cons.submit_one()
    proc.step()
    chain.advance(61)
    assert proc.step()["released"] == 2
    res = settle(chain.ctx(w), tmp_path / "c.json")
    assert res.released_count == 0 and res.already_released_count == 2 and res.withdrawn_wei > 0


def test_consumer_without_eligible_workers(chain):
    cons = Consumer(chain.dn.rpc_url, 31337, None, ["qwen3-vl:8b"])
    assert cons.submit_one() is None


def test_inject_stuck_job(chain):
    w = chain.new_worker()
    chain.register(w)
    jid = inject_stuck_job(chain.dn.rpc_url, w.address)
    j = chain.job(jid)
    assert j["state"] == 0 and j["deadline"] < chain.now()


def test_consumer_cli(chain):
    w = chain.new_worker()
    chain.register(w)
    out = subprocess.run([sys.executable, "-m", "tray_agent.devnet.consumer", "--rpc", chain.dn.rpc_url,
                          "--rate", "600", "--duration", "0.5", "--worker", w.address],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    n = int(out.stdout.split()[1])
    assert n >= 1 and chain.view(chain.reg, "getActiveJobCount", w.address) == n
