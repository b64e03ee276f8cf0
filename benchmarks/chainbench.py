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

    def reg_contract(self):
        from tray_agent.core.chain.abi import Contract

        return Contract.worker("WorkerRegistry", self.dn.addresses["WorkerRegistry"], with_replica=True)

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


def _pipelined(b: Bench, key: bytes, ids: list[int]) -> int:
    """The strongest one-at-a-time competitor: every releaseJob signed and broadcast back to back (nonces counted
    locally, no receipt awaited in between), then all receipts, then withdraw(). Returns the transactions sent."""
    from tray_agent.core.chain.tx import TxSender

    s = TxSender(b.client, key, poll_s=0.02, receipt_timeout_s=120)
    nonce = b.client.nonce(s.address, "pending")
    fees = s.fees()
    gas = s.estimate_gas(b.jr.address, b.jr.encode("releaseJob", ids[0]), 0) * 2
    hashes = []
    for i, jid in enumerate(ids):
        tx = {"chainId": b.net.chain_id, "nonce": nonce + i, "gas": gas, "value": 0, "to": b.jr.address,
              "data": b.jr.encode("releaseJob", jid), **fees}
        if "maxFeePerGas" in tx:
            tx["type"] = 2
        hashes.append((s._sign_and_send(tx), nonce + i))
    for h, n in hashes:
        s.wait(h, n)
    s.send(b.jr.address, b.jr.encode("withdraw"))
    return len(ids) + 1


def settle_200(work: Path, n: int = 200, runs: int = 5) -> dict:
    """Four ways to settle ``n`` completed jobs, each on a fresh worker, ``runs`` times in the same run (medians):

    * ours: ``chain.ops.settle()`` — job discovery from logs, eth_call probe, ``releaseJobs`` batches of 50, withdraw;
    * toolkit: the official toolkit's way — ``releaseJobs`` in batches of 50 of ids it already knows, each receipt
      awaited, then withdraw (no discovery, no probe);
    * pipelined: one ``releaseJob`` per job sent back to back without waiting for receipts, then withdraw;
    * sequential: one ``releaseJob`` per job, each receipt awaited, then withdraw.
    Same sender class and receipt polling everywhere; the competitors are handed the job ids for free."""
    from tray_agent.core.chain.ops import settle

    b = Bench(work / "settle-chain")
    times: dict[str, list[float]] = {"ours": [], "toolkit": [], "pipelined": [], "sequential": []}
    txs: dict[str, int] = {}
    try:
        for r in range(runs):
            workers = {name: b.new_worker() for name in times}
            ids = {name: b.completed_jobs(w, n) for name, (w, _k) in workers.items()}
            b.dn.increase_time(b.dn.dispute_window_s + 1)
            for name in ("ours", "toolkit", "pipelined", "sequential"):
                w, key = workers[name]
                t0 = time.perf_counter()
                if name == "ours":
                    res = settle(b.ctx(key), work / f"jobs-cache-{r}.json", batch_size=50)
                    assert res.released_count == n, res.to_dict()
                    sent = len(res.tx_hashes)
                elif name == "toolkit":
                    ctx = b.ctx(key)
                    with ctx.gate.session(lambda *_: None):
                        for i in range(0, n, 50):
                            ctx.tx(b.jr, "releaseJobs", ids[name][i:i + 50])
                        ctx.tx(b.jr, "withdraw")
                    sent = (n + 49) // 50 + 1
                elif name == "pipelined":
                    sent = _pipelined(b, key, ids[name])
                else:
                    ctx = b.ctx(key)
                    with ctx.gate.session(lambda *_: None):
                        for jid in ids[name]:
                            ctx.tx(b.jr, "releaseJob", jid)
                        ctx.tx(b.jr, "withdraw")
                    sent = n + 1
                times[name].append(time.perf_counter() - t0)
                txs[name] = sent
                assert int(b.client.call(b.jr, "workerBalance", w)) == 0, name
                assert int(b.client.call(b.reg_contract(), "getActiveJobCount", w)) == 0, name
        med = {k: statistics.median(v) for k, v in times.items()}
        return {"jobs": n, "runs": runs, "median_s": med, "all_s": times, "txs": txs,
                "ours_s": med["ours"], "ours_txs": txs["ours"], "sequential_s": med["sequential"],
                "sequential_txs": txs["sequential"], "speedup": med["sequential"] / med["ours"],
                "speedup_vs_pipelined": med["pipelined"] / med["ours"],
                "speedup_vs_toolkit": med["toolkit"] / med["ours"]}
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


def demand_refresh(work: Path, jobs: int = 200) -> dict:
    """Demand per model (issue 18): a cold DemandIndex refresh over the last 24 h, then — after 10 more jobs — the
    incremental refresh that reads only the new blocks from the disk cache; HTTP requests counted at a proxy."""
    from tray_agent.core.chain.client import ChainClient
    from tray_agent.core.chain.demand import DemandIndex
    from tray_agent.core.devnet import DEVNET_MODELS

    from .rpcproxy import CountingProxy

    b = Bench(work / "demand-chain")
    proxy = CountingProxy(b.dn.rpc_url).start()
    try:
        worker, _ = b.new_worker()
        for _ in range(jobs // 10):  # one session of 10 jobs per consumer transaction: jobs * 1.1 logs in all
            b.consumer.send(b.jr.address, b.jr.encode("testCreateCompletedJobs", worker, b.mid, 10), b.fee * 10)
        client = ChainClient(b.net.replace(rpc_url=proxy.url))
        models, cache = list(DEVNET_MODELS), work / "demand-cache.json"
        proxy.reset()
        t0 = time.perf_counter()
        cold = DemandIndex(client, cache).refresh(models, 24 * 3600, worker)
        cold_ms, cold_req, cold_calls = (time.perf_counter() - t0) * 1000, proxy.requests, proxy.calls
        b.consumer.send(b.jr.address, b.jr.encode("testCreateCompletedJobs", worker, b.mid, 10), b.fee * 10)
        proxy.reset()
        t0 = time.perf_counter()
        warm = DemandIndex(client, cache).refresh(models, 24 * 3600, worker)
        warm_ms = (time.perf_counter() - t0) * 1000
        assert {m.name: m.jobs for m in warm.models}[MODEL] == jobs + 10
        return {"cold_requests": cold_req, "cold_calls": cold_calls, "cold_blocks": cold.blocks_scanned,
                "cold_ms": cold_ms, "requests": proxy.requests, "calls": proxy.calls,
                "blocks": warm.blocks_scanned, "ms": warm_ms, "jobs": jobs + 10, "models": len(models)}
    finally:
        proxy.stop()
        b.stop()


def earnings_refresh(work: Path, sizes: tuple[int, ...] = (50, 500), rounds: int = 5) -> dict:
    """Issue 14: the agent's earnings refresh (every 15 s) for a worker with N final jobs (released, then withdrawn)
    and a few open ones: HTTP requests / JSON-RPC calls of a warm refresh on the disk cache, each after one more
    completed job (a new block), counted at a proxy (medians of ``rounds``), and the refresh's own CPU time; the
    first (cold) refresh for scale."""
    from tray_agent.core.chain.client import ChainClient
    from tray_agent.core.chain.ops import earnings
    from tray_agent.core.chain.tx import TxSender

    from .rpcproxy import CountingProxy

    b = Bench(work / "earnings-chain")
    proxy = CountingProxy(b.dn.rpc_url).start()
    out: dict = {"sizes": list(sizes), "rounds": rounds}
    try:
        for n in sizes:
            worker, key = b.new_worker()
            ids = b.completed_jobs(worker, n)
            b.dn.increase_time(b.dn.dispute_window_s + 1)
            for i in range(0, n, 50):
                b.consumer.send(b.jr.address, b.jr.encode("releaseJobs", ids[i:i + 50]))
            TxSender(b.client, key, poll_s=0.02).send(b.jr.address, b.jr.encode("withdraw"))
            b.completed_jobs(worker, 3)  # open: inside the dispute window
            client = ChainClient(b.net.replace(rpc_url=proxy.url))
            cache = work / f"earnings-cache-{n}.json"
            proxy.reset()
            t0 = time.perf_counter()
            earnings(client, worker, cache_path=cache)
            cold = {"requests": proxy.requests, "calls": proxy.calls, "ms": (time.perf_counter() - t0) * 1000}
            reqs, calls, lat, cpu = [], [], [], []
            for _ in range(rounds):
                b.completed_jobs(worker, 1)
                proxy.reset()
                t0, c0 = time.perf_counter(), time.thread_time()
                e = earnings(client, worker, cache_path=cache)
                lat.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)  # this thread only (the proxy runs in others)
                reqs.append(proxy.requests)
                calls.append(proxy.calls)
            assert len(e.jobs) == n + 3 + rounds and e.withdrawn_wei > 0
            out[str(n)] = {"requests": statistics.median(reqs), "calls": statistics.median(calls),
                           "calls_max": max(calls), "ms": statistics.median(lat),
                           "cpu_ms": statistics.median(cpu), "cold": cold}
        return out
    finally:
        proxy.stop()
        b.stop()


if __name__ == "__main__":  # quick manual run; `python -m benchmarks.chainbench earnings` runs only that one
    import json
    import sys
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="lcai-cb-"))
    if sys.argv[1:] == ["earnings"]:
        print(json.dumps(earnings_refresh(d), indent=1))
        os.system(f"rm -rf {d}")
        sys.exit(0)
    print(json.dumps(status_refresh(d), indent=1))
    print(json.dumps(demand_refresh(d), indent=1))
    print(json.dumps(settle_200(d), indent=1))
    os.system(f"rm -rf {d}")
