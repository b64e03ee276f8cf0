"""Chain-side benchmarks on a private devnet (anvil + replicas): settle 200 jobs (ours vs sequential) and the
status refresh (HTTP requests per refresh counted at a loopback proxy, latency)."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from eth_account import Account
from eth_utils import keccak

ETHER = 10**18
MODEL = "llama3-8b"


def _p256_pub() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pub = ec.generate_private_key(ec.SECP256R1()).public_key()
    return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


class Bench:
    def __init__(self, work: Path):
        from tray_agent.core.chain.abi import Contract
        from tray_agent.core.chain.client import ChainClient
        from tray_agent.core.chain.tx import TxSender
        from tray_agent.core.devnet import start_devnet

        self.dn = start_devnet(work, state=False, reuse=False)
        self.net = self.dn.network()
        self.client = ChainClient(self.net)
        self.jr = Contract.worker("JobRegistry", self.dn.addresses["JobRegistry"], with_replica=True)
        self.ai = Contract.worker("AIConfig", self.dn.addresses["AIConfig"], with_replica=True)
        self.consumer = TxSender(self.client, bytes.fromhex(self.dn.consumer[1][2:]), poll_s=0.02)
        self.mid = keccak(text=MODEL)
        self.fee = int(self.client.call(self.ai, "getModelFee", self.mid))

    def stop(self) -> None:
        self.dn.stop()

    def ctx(self, key: bytes, rpc_url: str | None = None):
        from tray_agent.core.chain.ops import OpContext

        return OpContext.create(self.net, key, rpc_url=rpc_url, receipt_timeout_s=60)

    def new_worker(self) -> tuple[str, bytes]:
        from tray_agent.core.chain.ops import register

        acct = Account.create()
        self.dn.set_balance(acct.address, 6000 * ETHER)
        register(self.ctx(bytes(acct.key)), _p256_pub(), [MODEL])
        return acct.address, bytes(acct.key)

    def completed_jobs(self, worker: str, n: int) -> list[int]:
        ids: list[int] = []
        while len(ids) < n:
            k = min(50, n - len(ids))
            res = self.consumer.send(self.jr.address, self.jr.encode("testCreateCompletedJobs", worker, self.mid, k),
                                     self.fee * k)
            ids += [int(e.args["jobId"]) for e in res.events(self.jr, "JobCompleted")]
        return ids


def settle_200(work: Path, n: int = 200) -> dict:
    """Ours (log discovery + releaseJobs batches of 50 + withdraw) vs one releaseJob transaction per job + withdraw.
    Same sender class, same receipt polling, fresh worker each; the baseline is even given the job ids."""
    from tray_agent.core.chain.ops import settle

    b = Bench(work / "settle-chain")
    try:
        w1, k1 = b.new_worker()
        b.completed_jobs(w1, n)
        w2, k2 = b.new_worker()
        ids2 = b.completed_jobs(w2, n)
        b.dn.increase_time(b.dn.dispute_window_s + 1)

        t0 = time.perf_counter()
        res = settle(b.ctx(k1), work / "jobs-cache.json", batch_size=50)
        ours = time.perf_counter() - t0
        assert res.released_count == n, res.to_dict()

        ctx = b.ctx(k2)
        t0 = time.perf_counter()
        with ctx.gate.session(lambda *_: None):
            for jid in ids2:
                ctx.tx(b.jr, "releaseJob", jid)
            ctx.tx(b.jr, "withdraw")
        seq = time.perf_counter() - t0
        assert int(b.client.call(b.jr, "workerBalance", w2)) == 0
        return {"jobs": n, "ours_s": ours, "ours_txs": len(res.tx_hashes), "sequential_s": seq,
                "sequential_txs": n + 1, "speedup": seq / ours}
    finally:
        b.stop()


def status_refresh(work: Path, rounds: int = 20) -> dict:
    """ChainClient.snapshot() — the one call the agent's refresh loop makes — through a counting proxy."""
    from tray_agent.core.chain.client import ChainClient
    from tray_agent.core.devnet import DEVNET_MODELS

    from .rpcproxy import CountingProxy

    b = Bench(work / "refresh-chain")
    proxy = CountingProxy(b.dn.rpc_url).start()
    try:
        worker, _ = b.new_worker()
        b.completed_jobs(worker, 5)
        client = ChainClient(b.net.replace(rpc_url=proxy.url))
        models = list(DEVNET_MODELS)
        proxy.reset()
        t0 = time.perf_counter()
        client.snapshot(worker, models=models)
        cold_s = time.perf_counter() - t0
        cold = (proxy.requests, proxy.calls)
        lat, reqs, calls = [], [], []
        for _ in range(rounds):
            proxy.reset()
            t0 = time.perf_counter()
            snap = client.snapshot(worker, models=models)
            lat.append(time.perf_counter() - t0)
            reqs.append(proxy.requests)
            calls.append(proxy.calls)
        assert snap.registered
        return {"requests_per_refresh": statistics.median(reqs), "requests_max": max(reqs),
                "calls_per_request": statistics.median(calls), "latency_ms_median": statistics.median(lat) * 1000,
                "latency_ms_p95": sorted(lat)[int(len(lat) * 0.95) - 1] * 1000, "cold_requests": cold[0],
                "cold_calls": cold[1], "cold_ms": cold_s * 1000, "models": len(models), "rounds": rounds}
    finally:
        proxy.stop()
        b.stop()


if __name__ == "__main__":  # quick manual run
    import json
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="lcai-cb-"))
    print(json.dumps(status_refresh(d), indent=1))
    print(json.dumps(settle_200(d), indent=1))
    os.system(f"rm -rf {d}")
