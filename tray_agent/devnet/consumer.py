"""Simulated consumer for the devnet: submits jobs at a steady rate through the replica's test helpers.

CLI: ``python -m tray_agent.devnet.consumer --rpc http://127.0.0.1:PORT --rate 6 [--model llama3-8b[=WEIGHT]]...``
(rate = jobs per minute; the key defaults to the devnet consumer account, which the devnet funds).

Demand covers every model: each tick picks a model among those with an eligible worker, weighted by
:data:`DEFAULT_DEMAND` (or ``LCAI_DEVNET_DEMAND`` / ``--model name=weight``, see ``market.py``), then a worker
uniformly among the model's eligible workers. Simulated peer workers (``LCAI_DEVNET_PEERS``) are registered at start
and get their jobs already completed, so the demo has competition and demand that differ per model. Sessions are reused like claimed sortition sessions (toolkit.md §7, §11): follow-up jobs go to a worker's
open session while it stays registered — also while its container is down (those jobs time out: offences).
``--parent-pid`` exits with the agent; ``--lock FILE`` refuses to run a second consumer on the same chain (exit 3).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import threading
import time

from eth_utils import keccak, to_checksum_address

from tray_agent.core.chain.abi import Contract
from tray_agent.core.chain.client import ChainClient
from tray_agent.core.chain.errors import ChainError
from tray_agent.core.chain.models import model_id_bytes
from tray_agent.core.chain.tx import TxSender
from tray_agent.core.networks import get_network

from . import market
from .market import DEFAULT_DEMAND  # noqa: F401  (re-exported: tests and callers import it from here)

FOLLOW_UP = 0.6  # share of jobs that go to an already-claimed session
SESSION_JOBS = 8  # jobs per session before the consumer opens a new one
LOCKED_EXIT = 3


def parse_models(specs: list[str] | None) -> dict[str, float]:
    """``["llama3-8b=3", "gpt-oss:20b"]`` → weights (default 1). Split at the last '=' (names hold ':')."""
    out: dict[str, float] = {}
    for spec in specs or []:
        name, sep, w = spec.rpartition("=")
        out[name if sep else spec] = float(w) if sep else 1.0
    return out


class Consumer:
    """Submits jobs (``testCreateJob`` paying the model fee) to eligible workers of the given models."""

    def __init__(self, rpc_url: str, chain_id: int = 31337, private_key: bytes | None = None,
                 models: list[str] | dict[str, float] | None = None, *, worker: str | None = None,
                 follow_up: float = FOLLOW_UP, peers: bool = False):
        from tray_agent.core.devnet import devnet_key

        net = get_network("devnet").replace(chain_id=int(chain_id), rpc_url=rpc_url, ai_config="", job_registry="")
        self.client = ChainClient(net)
        self.client.ensure_chain()
        self.sender = TxSender(self.client, private_key or devnet_key("consumer"), poll_s=0.02, receipt_timeout_s=30)
        if isinstance(models, dict):
            self.weights = {m: float(w) for m, w in models.items() if w > 0}
        else:
            self.weights = market.demand_weights(list(models) if models else None)
        self.models = list(self.weights)
        self.follow_up = follow_up
        self.sessions: dict[tuple[str, str], list[list[int]]] = {}  # (worker, model) -> [[session id, jobs]]
        self.by_model: dict[str, int] = {}
        self.worker = to_checksum_address(worker) if worker else None
        self.jr: Contract = Contract.worker("JobRegistry", self.client.job_registry.address, with_replica=True)
        self.submitted = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.peers = market.peer_addresses()  # jobs for a simulated peer are created already completed
        if peers and not worker:
            try:
                market.ensure_peers(self.client, market.peer_counts())
            except ChainError as e:  # the demo still runs, with demand for this worker's models only
                print(f"devnet consumer: simulated peer workers not registered: {e}", file=sys.stderr, flush=True)

    def _pick(self) -> tuple[str, str] | None:
        """A (worker, model): the model weighted among those with an eligible worker (demand for every model)."""
        if self.worker:
            return self.worker, random.choices(self.models, [self.weights[m] for m in self.models])[0]
        res = self.client.read_many([(self.client.registry, "getEligibleWorkers", (model_id_bytes(m),))
                                     for m in self.models], raise_errors=False)
        live = [(m, list(ws)) for m, ws in zip(self.models, res, strict=True) if not isinstance(ws, Exception) and ws]
        if not live:
            return None
        model, workers = random.choices(live, [self.weights[m] for m, _ in live])[0]
        return random.choice(workers), model

    def _open_session(self, worker: str, model: str) -> int | None:
        """A claimed session of ``worker`` for ``model`` to reuse, while the worker stays registered."""
        pool = self.sessions.get((worker, model), [])
        pool[:] = [s for s in pool if s[1] < SESSION_JOBS]
        if not pool or random.random() >= self.follow_up:
            return None
        if not self.client.call(self.client.registry, "isWorkerRegistered", worker):
            self.sessions.pop((worker, model), None)  # deregistered: its sessions get no more jobs
            return None
        return random.choice(pool)[0]

    def submit_one(self, worker: str | None = None, model: str | None = None) -> int | None:
        """Submit one job; returns its id (None when no eligible worker exists)."""
        if worker is None or model is None:
            picked = self._pick()
            if picked is None:
                return None
            worker, model = worker or picked[0], model or picked[1]
        worker = to_checksum_address(worker)
        fee = int(self.client.call(self.client.ai_config, "calculateJobFee", model_id_bytes(model)))
        session = None if worker.lower() in self.peers else self._open_session(worker, model)
        if worker.lower() in self.peers:
            data = self.jr.encode("testCreateCompletedJobs", worker, model_id_bytes(model), 1)
        elif session is not None:
            data = self.jr.encode("testSubmitJobForSession", session, keccak(os.urandom(32)))
        else:
            data = self.jr.encode("testCreateJob", worker, model_id_bytes(model), keccak(os.urandom(32)))
        res = self.sender.send(self.jr.address, data, fee)
        ev = res.events(self.jr, "JobSubmitted")  # type: ignore[union-attr]
        self.submitted += 1
        self.by_model[model] = self.by_model.get(model, 0) + 1
        if not ev:
            return None
        sid = int(ev[0].args["sessionId"])
        pool = self.sessions.setdefault((worker, model), [])
        for s in pool:
            if s[0] == sid:
                s[1] += 1
                break
        else:
            pool.append([sid, 1])
        return int(ev[0].args["jobId"])

    def run(self, rate_per_min: float, duration_s: float | None = None) -> None:
        """Submit at a steady rate until stop() (or ``duration_s``)."""
        interval = 60.0 / max(rate_per_min, 1e-6)
        end = time.monotonic() + duration_s if duration_s else None
        while not self._stop.is_set() and (end is None or time.monotonic() < end):
            try:
                self.submit_one()
            except ChainError:
                self.errors += 1
            self._stop.wait(interval)

    def start(self, rate_per_min: float) -> Consumer:
        self._thread = threading.Thread(target=self.run, args=(rate_per_min,), daemon=True, name="devnet-consumer")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)


def inject_stuck_job(rpc_url: str, worker: str, *, chain_id: int = 31337, model: str = "llama3-8b",
                     private_key: bytes | None = None, advance_s: int | None = None) -> int:
    """Submit a job to ``worker`` and (optionally) move chain time past its deadline so it is stuck.

    ``advance_s`` None = ackTimeout + 1 s; 0 = do not move time."""
    c = Consumer(rpc_url, chain_id, private_key, [model], worker=worker)
    job_id = c.submit_one(worker, model)
    assert job_id is not None
    if advance_s != 0:
        secs = advance_s if advance_s is not None else int(c.client.call(c.client.ai_config, "getAckTimeout")) + 1
        c.client.rpc.call("evm_increaseTime", [secs])
        c.client.rpc.call("evm_mine", [])
    return job_id


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="devnet consumer: submit jobs at a steady rate")
    p.add_argument("--rpc", required=True)
    p.add_argument("--chain-id", type=int, default=31337)
    p.add_argument("--rate", type=float, default=6.0, help="jobs per minute")
    p.add_argument("--model", action="append", dest="models", help="NAME[=WEIGHT], repeatable (default: all)")
    p.add_argument("--worker", default=None, help="submit only to this worker")
    p.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    p.add_argument("--parent-pid", type=int, default=0, help="exit when this process is gone")
    p.add_argument("--lock", default=None, help="lock file of this chain: refuse to run a second consumer")
    a = p.parse_args(argv)
    from .lifeline import ChainLock, watch_parent

    watch_parent(a.parent_pid)
    lock = ChainLock(a.lock) if a.lock else None
    if lock is not None and not lock.acquire():
        print(f"another devnet consumer (pid {lock.holder()}) already runs on this chain; not starting a second one",
              file=sys.stderr)
        return LOCKED_EXIT
    c = Consumer(a.rpc, a.chain_id, None, parse_models(a.models) or None, worker=a.worker, peers=True)
    print(f"devnet consumer: {a.rate} jobs/min over {c.weights}", file=sys.stderr, flush=True)
    try:
        c.run(a.rate, a.duration)
    except KeyboardInterrupt:
        pass
    print(f"submitted {c.submitted} jobs, {c.errors} errors {c.by_model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
