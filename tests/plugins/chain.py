"""pytest fixtures for the chain layer: a session-wide anvil devnet with the replicas, per-test snapshot/revert,
funded worker keys, and helpers to drive jobs (loaded by tests/conftest.py through pytest_plugins)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_utils import keccak

ETHER = 10**18


def p256_public_key() -> bytes:
    """A fresh 65-byte uncompressed P-256 public key (the worker's ECDH key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pub = ec.generate_private_key(ec.SECP256R1()).public_key()
    return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@pytest.fixture(scope="session")
def devnet(tmp_path_factory):
    """Running anvil + replicas (chain id 31337, 60 s dispute window); stopped by PID at teardown."""
    from tray_agent.core.devnet import DevnetError, find_anvil, start_devnet

    try:
        find_anvil()
    except DevnetError as e:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"anvil is not available under CI: {e}")
        pytest.skip(f"anvil not available: {e}")
    dn = start_devnet(tmp_path_factory.mktemp("devnet"), state=False, reuse=False)
    yield dn
    dn.stop()
    assert not dn.alive()


@pytest.fixture
def chain(devnet) -> Iterator[ChainKit]:
    """Function-scoped: evm_snapshot before the test, evm_revert after (tests are independent)."""
    snap = devnet.rpc("evm_snapshot")
    kit = ChainKit(devnet)
    yield kit
    assert devnet.rpc("evm_revert", [snap]) is True
    devnet.rpc("anvil_setAutomine", [True])


@dataclass
class Worker:
    address: str
    key: bytes
    ecdh: bytes


class ChainKit:
    """Test helpers on top of the devnet: owner calls, funded workers, job driving, time travel."""

    def __init__(self, devnet):
        from tray_agent.core.chain import ChainClient
        from tray_agent.core.chain.abi import Contract
        from tray_agent.core.chain.tx import TxSender

        self.dn = devnet
        self.network = devnet.network()
        self.client = ChainClient(self.network)
        self.reg = Contract.worker("WorkerRegistry", devnet.addresses["WorkerRegistry"], with_replica=True)
        self.ai = Contract.worker("AIConfig", devnet.addresses["AIConfig"], with_replica=True)
        self.jr = Contract.worker("JobRegistry", devnet.addresses["JobRegistry"], with_replica=True)
        self.owner = TxSender(self.client, bytes.fromhex(devnet.owner[1][2:]), poll_s=0.02)
        self.consumer = TxSender(self.client, bytes.fromhex(devnet.consumer[1][2:]), poll_s=0.02)
        self.model = "llama3-8b"
        self.mid = keccak(text=self.model)

    # ---- accounts ----
    def new_worker(self, lcai: int = 6000) -> Worker:
        acct = Account.create()
        self.dn.set_balance(acct.address, lcai * ETHER)
        return Worker(acct.address, bytes(acct.key), p256_public_key())

    def ctx(self, w: Worker, gate=None):
        from tray_agent.core.chain.ops import OpContext

        c = OpContext.create(self.network, w.key, gate=gate, receipt_timeout_s=30)
        c.sender.poll_s = 0.02
        return c

    def sender(self, w: Worker):
        from tray_agent.core.chain.tx import TxSender

        return TxSender(self.client, w.key, poll_s=0.02, receipt_timeout_s=30)

    # ---- raw sends ----
    def as_owner(self, contract, fn: str, *args, value: int = 0):
        return self.owner.send(contract.address, contract.encode(fn, *args), value)

    def as_worker(self, w: Worker, contract, fn: str, *args, value: int = 0):
        return self.sender(w).send(contract.address, contract.encode(fn, *args), value)

    def register(self, w: Worker, models=("llama3-8b",)):
        from tray_agent.core.chain.ops import register

        return register(self.ctx(w), w.ecdh, list(models))

    # ---- jobs ----
    def fee(self, model: str | None = None) -> int:
        return int(self.client.call(self.ai, "getModelFee", keccak(text=model or self.model)))

    def create_job(self, w: Worker, model: str | None = None) -> int:
        mid = keccak(text=model or self.model)
        res = self.consumer.send(self.jr.address, self.jr.encode("testCreateJob", w.address, mid, os.urandom(32)),
                                 self.fee(model))
        return int(res.events(self.jr, "JobSubmitted")[0].args["jobId"])

    def ack(self, w: Worker, job_id: int):
        return self.as_worker(w, self.jr, "acknowledgeJob", job_id)

    def complete(self, w: Worker, job_id: int):
        return self.as_worker(w, self.jr, "completeJob", job_id, keccak(b"blob"), keccak(os.urandom(8)))

    def completed_job(self, w: Worker, model: str | None = None) -> int:
        jid = self.create_job(w, model)
        self.ack(w, jid)
        self.complete(w, jid)
        return jid

    def completed_jobs(self, w: Worker, count: int, model: str | None = None) -> list[int]:
        mid = keccak(text=model or self.model)
        res = self.consumer.send(self.jr.address, self.jr.encode("testCreateCompletedJobs", w.address, mid, count),
                                 self.fee(model) * count)
        return [int(e.args["jobId"]) for e in res.events(self.jr, "JobCompleted")]

    def job(self, job_id: int) -> dict:
        return self.client.get_job(job_id)

    def view(self, contract, fn: str, *args):
        return self.client.call(contract, fn, *args)

    # ---- time ----
    def advance(self, seconds: int) -> None:
        self.dn.increase_time(seconds)

    def now(self) -> int:
        return self.client.head()[1]

    def mine(self) -> None:
        self.dn.rpc("evm_mine", [])
