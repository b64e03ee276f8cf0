"""Chain side of the simulated worker: acknowledge + complete the jobs assigned to this worker on the replica.

``JobProcessor(rpc_url, chain_id, private_key, supported_models).step()`` is called in a loop by
``sim_worker.py``. It is the "container" writer of the worker key (it never goes through the app's WriterGate).
"""

from __future__ import annotations

import os

from eth_utils import keccak

from tray_agent.core.chain.abi import Contract
from tray_agent.core.chain.client import ChainClient
from tray_agent.core.chain.errors import ChainError, Reverted
from tray_agent.core.chain.jobs import ACKNOWLEDGED, COMPLETED, SUBMITTED
from tray_agent.core.chain.models import model_id
from tray_agent.core.chain.tx import TxSender
from tray_agent.core.networks import get_network


class JobProcessor:
    def __init__(self, rpc_url: str, chain_id: int, private_key: bytes, supported_models: list[str], *,
                 release: bool = False, chunk: int = 5000):
        net = get_network("devnet").replace(chain_id=int(chain_id), rpc_url=rpc_url, ai_config="", job_registry="")
        self.client = ChainClient(net)
        self.client.ensure_chain()
        self.sender = TxSender(self.client, private_key, poll_s=0.02, receipt_timeout_s=30)
        self.address = self.sender.address
        self.models = {model_id(m).lower(): m for m in supported_models}
        self.release = release
        self.chunk = chunk
        self.jr: Contract = self.client.job_registry
        self._cursor: int | None = None
        self._open: set[int] = set()
        self._sessions: dict[int, str] = {}
        self.active_jobs = 0
        self.totals = {"acknowledged": 0, "completed": 0, "skipped": 0, "released": 0, "errors": 0}

    def _scan(self, head: int) -> None:
        frm = head if self._cursor is None else self._cursor + 1
        if self._cursor is None:
            frm = max(0, head - 10_000)
        if frm > head:
            return
        for lg in self.client.get_logs(self.jr.address or "", [self.jr.topic("JobSubmitted")], frm, head, chunk=self.chunk):
            d = self.jr.decode_log(lg)
            if d and d.args["worker"].lower() == self.address.lower():
                self._open.add(int(d.args["jobId"]))
        self._cursor = head

    def _model_of(self, session_id: int) -> str:
        if session_id not in self._sessions:
            self._sessions[session_id] = self.client.call(self.jr, "getSession", session_id)["modelId"].lower()
        return self._sessions[session_id]

    def _send(self, fn: str, *args) -> None:
        self.sender.send(self.jr.address, self.jr.encode(fn, *args))

    def step(self) -> dict:
        """One pass: find new jobs, ack + complete the ones we can serve. Returns counts for this pass."""
        done = {"acknowledged": 0, "completed": 0, "skipped": 0, "released": 0, "errors": 0}
        head, now = self.client.head()
        self._scan(head)
        jobs = self.client.get_jobs(sorted(self._open))
        self.active_jobs = sum(1 for j in jobs.values() if j["state"] in (SUBMITTED, ACKNOWLEDGED))
        for jid, job in sorted(jobs.items()):
            state = job["state"]
            if state not in (SUBMITTED, ACKNOWLEDGED):
                self._open.discard(jid)
                continue
            if self._model_of(int(job["sessionId"])) not in self.models:
                done["skipped"] += 1
                continue
            if int(job["deadline"]) < now:
                continue  # too late: leave it (it can only time out now)
            try:
                if state == SUBMITTED:
                    self._send("acknowledgeJob", jid)
                    done["acknowledged"] += 1
                ct = keccak(jid.to_bytes(32, "big") + os.urandom(8))
                self._send("completeJob", jid, keccak(b"blob" + ct), ct)
                done["completed"] += 1
                self._open.discard(jid)
            except (Reverted, ChainError):
                done["errors"] += 1
        if self.release:
            done["released"] = self._release_ready(now)
        self.active_jobs = max(0, self.active_jobs - done["completed"])
        for k, v in done.items():
            self.totals[k] += v
        return done

    def _release_ready(self, now: int) -> int:
        """Like the container's release scheduler: release our Completed jobs past the dispute window."""
        topic_worker = "0x" + "00" * 12 + self.address[2:].lower()
        logs = self.client.get_logs(self.jr.address or "", [self.jr.topic("JobCompleted"), None, topic_worker],
                                    0, self.client.head()[0], chunk=self.chunk)
        ids = sorted({int(lg["topics"][1], 16) for lg in logs})
        window = int(self.client.call(self.client.ai_config, "getDisputeWindow"))
        ready = [j for j, job in self.client.get_jobs(ids).items()
                 if job["state"] == COMPLETED and int(job["completedAt"]) + window <= now]
        if ready:
            try:
                self._send("releaseJobs", ready)
            except (Reverted, ChainError):
                return 0
        return len(ready)
