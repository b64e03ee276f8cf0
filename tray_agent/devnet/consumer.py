"""Simulated consumer for the devnet: submits jobs at a steady rate through the replica's test helpers.

CLI: ``python -m tray_agent.devnet.consumer --rpc http://127.0.0.1:PORT --rate 6 [--model llama3-8b]``
(rate = jobs per minute; the key defaults to the devnet consumer account, which the devnet funds).
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


class Consumer:
    """Submits jobs (``testCreateJob`` paying the model fee) to eligible workers of the given models."""

    def __init__(self, rpc_url: str, chain_id: int = 31337, private_key: bytes | None = None,
                 models: list[str] | None = None, *, worker: str | None = None):
        from tray_agent.core.devnet import devnet_key

        net = get_network("devnet").replace(chain_id=int(chain_id), rpc_url=rpc_url, ai_config="", job_registry="")
        self.client = ChainClient(net)
        self.client.ensure_chain()
        self.sender = TxSender(self.client, private_key or devnet_key("consumer"), poll_s=0.02, receipt_timeout_s=30)
        self.models = list(models or ["llama3-8b"])
        self.worker = to_checksum_address(worker) if worker else None
        self.jr: Contract = Contract.worker("JobRegistry", self.client.job_registry.address, with_replica=True)
        self.submitted = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _pick(self) -> tuple[str, str] | None:
        model = random.choice(self.models)
        if self.worker:
            return self.worker, model
        workers = self.client.call(self.client.registry, "getEligibleWorkers", model_id_bytes(model))
        return (random.choice(workers), model) if workers else None

    def submit_one(self, worker: str | None = None, model: str | None = None) -> int | None:
        """Submit one job; returns its id (None when no eligible worker exists)."""
        if worker is None or model is None:
            picked = self._pick()
            if picked is None:
                return None
            worker, model = worker or picked[0], model or picked[1]
        fee = int(self.client.call(self.client.ai_config, "calculateJobFee", model_id_bytes(model)))
        res = self.sender.send(self.jr.address, self.jr.encode("testCreateJob", to_checksum_address(worker),
                                                                 model_id_bytes(model), keccak(os.urandom(32))), fee)
        ev = res.events(self.jr, "JobSubmitted")  # type: ignore[union-attr]
        self.submitted += 1
        return int(ev[0].args["jobId"]) if ev else None

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
    p.add_argument("--model", action="append", dest="models")
    p.add_argument("--worker", default=None, help="submit only to this worker")
    p.add_argument("--duration", type=float, default=None, help="seconds (default: until Ctrl-C)")
    a = p.parse_args(argv)
    c = Consumer(a.rpc, a.chain_id, None, a.models, worker=a.worker)
    try:
        c.run(a.rate, a.duration)
    except KeyboardInterrupt:
        pass
    print(f"submitted {c.submitted} job(s), {c.errors} error(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
