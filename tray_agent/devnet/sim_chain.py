"""Chain side of the simulated worker on the replica: the JobWatcher and the per-job pipeline (toolkit.md §7).

``JobProcessor(rpc_url, chain_id, private_key, supported_models)`` is the worker key's "container" writer (it never
goes through the app's WriterGate). ``sim_worker.py`` drives it like the official worker does:

- :meth:`JobProcessor.poll` — the JobWatcher: scans ``JobSubmitted`` from the persisted sortition cursor + 1 to head
  (§5.6, §7), keeps this worker's jobs, and **at capacity saves the cursor and stops**. The cursor moves past a job
  once its pipeline starts, so a job cancelled by SIGTERM is not replayed after a restart (§11: it times out).
- :meth:`JobProcessor.serve` — one job's pipeline: stage 0 deadline pickup (abort if past, or acked with ≤ 35 s
  left; no gas), stage 1 ack (skipped if already acked), stage 5 resolve model + inference (cancellable),
  stage 8 complete (abort if ≤ 12 s left). A model missing from ``SUPPORTED_MODELS`` fails at stage 5 after the
  ack, so that job times out (§7 "Offence causes").

:meth:`JobProcessor.step` is the older synchronous pass (poll + serve everything, no cursor file, unsupported models
skipped) kept for chain tests and benchmarks.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from eth_utils import keccak

from tray_agent.core.chain.abi import Contract
from tray_agent.core.chain.client import ChainClient
from tray_agent.core.chain.errors import ChainError, Reverted
from tray_agent.core.chain.jobs import ACKNOWLEDGED, COMPLETED, SUBMITTED
from tray_agent.core.chain.models import model_id
from tray_agent.core.chain.tx import TxSender
from tray_agent.core.networks import get_network

from .sim_infer import JobCanceled
from .sim_state import CursorStore

ACKED_MIN_LEFT_S = 35  # §7 stage 0: an acked job with ≤ 35 s left is not picked up
COMPLETION_RESERVE_S = 12  # §3.1 DEADLINE_COMPLETION_RESERVE: abort the completion with ≤ 12 s left
SETTLE_RESERVE_S = 25  # §3.1 DEADLINE_SETTLE_RESERVE: inference is capped at deadline − 25 s
JOB_KIND = "job_submitted"

# infer(model, cancel, budget_s) -> None; raises JobCanceled when ``cancel`` was set, other errors = job error
Infer = Callable[[str, threading.Event, float], None]


@dataclass(frozen=True)
class Outcome:
    job_id: int
    outcome: str  # ok | error | skipped
    reason: str = ""  # worker_jobs_total reason (§9.1): ctx_canceled, chain_tx_failed, unknown, ...
    model: str = ""
    completed_at: int = 0


class JobProcessor:
    def __init__(self, rpc_url: str, chain_id: int, private_key: bytes, supported_models: list[str], *,
                 release: bool = False, chunk: int = 5000, cursors: CursorStore | None = None):
        net = get_network("devnet").replace(chain_id=int(chain_id), rpc_url=rpc_url, ai_config="", job_registry="")
        self.client = ChainClient(net)
        self.client.ensure_chain()
        self.sender = TxSender(self.client, private_key, poll_s=0.02, receipt_timeout_s=30)
        self.address = self.sender.address
        self.models = {model_id(m).lower(): m for m in supported_models}
        self.release = release
        self.chunk = chunk
        self.cursors = cursors
        self.jr: Contract = self.client.job_registry
        self._cursor: int | None = None
        self._open: set[int] = set()
        self._started: set[int] = set()
        self._sessions: dict[int, str] = {}
        self._send_lock = threading.Lock()  # one nonce counter per process and key (§12)
        self.active_jobs = 0
        self.totals = {"acknowledged": 0, "completed": 0, "skipped": 0, "released": 0, "errors": 0}

    # --- startup validation (§1, §4) ---------------------------------------------------------------------
    def validate_registration(self, local_ecdh_pub: bytes) -> str | None:
        """The official service's startup check: the error text when it refuses to start, else None."""
        reg = self.client.registry
        if not self.client.call(reg, "isWorkerRegistered", self.address):
            return (f"validate registration: worker {self.address} is not registered on-chain; run "
                    "'lightchain-worker register' before starting the sidecar")
        onchain = self.client.call(reg, "getWorkerEncryptionKey", self.address)
        if isinstance(onchain, str):
            onchain = bytes.fromhex(onchain.removeprefix("0x"))
        if bytes(onchain) != local_ecdh_pub:
            return (f"validate registration: local ECDH public key does not match on-chain key for {self.address} "
                    "— deregister and re-register to reset")
        return None

    # --- JobWatcher (§7) --------------------------------------------------------------------------------
    def _my_jobs(self, frm: int, head: int) -> list[tuple[int, int]]:
        """(block, job id) of this worker's JobSubmitted events in [frm, head] (``worker`` is not indexed)."""
        out = []
        for lg in self.client.get_logs(self.jr.address or "", [self.jr.topic("JobSubmitted")], frm, head,
                                       chunk=self.chunk):
            d = self.jr.decode_log(lg)
            if d and d.args["worker"].lower() == self.address.lower():
                out.append((int(lg["blockNumber"], 16) if isinstance(lg["blockNumber"], str)
                            else int(lg["blockNumber"]), int(d.args["jobId"])))
        return out

    def poll(self, capacity: int) -> list[int]:
        """New jobs for this worker, at most ``capacity``; the cursor is saved up to what was handed out."""
        assert self.cursors is not None, "poll() needs a CursorStore"
        head, _ = self.client.head()
        frm = self.cursors.get(JOB_KIND, head) + 1
        if frm > head:
            return []
        picked: list[int] = []
        for block, jid in self._my_jobs(frm, head):
            if jid in self._started:
                continue
            if len(picked) >= capacity:  # §7: at capacity save cursor and stop
                self.cursors.set(JOB_KIND, block - 1)
                return picked
            picked.append(jid)
            self._started.add(jid)
        self.cursors.set(JOB_KIND, head)
        return picked

    # --- pipeline (§7) -----------------------------------------------------------------------------------
    def _model_of(self, session_id: int) -> str:
        if session_id not in self._sessions:
            self._sessions[session_id] = self.client.call(self.jr, "getSession", session_id)["modelId"].lower()
        return self._sessions[session_id]

    def _send(self, fn: str, *args) -> None:
        with self._send_lock:
            self.sender.send(self.jr.address, self.jr.encode(fn, *args))

    def serve(self, job_id: int, cancel: threading.Event, infer: Infer) -> Outcome:
        """Run one job to its end, or stop at a stage boundary when ``cancel`` is set."""
        job = self.client.get_jobs([job_id])[job_id]
        mid = self._model_of(int(job["sessionId"]))
        name = self.models.get(mid, "")
        state, deadline = int(job["state"]), int(job["deadline"])
        _, now = self.client.head()
        if state not in (SUBMITTED, ACKNOWLEDGED):  # replay: completion skipped if already completed
            return Outcome(job_id, "skipped", "", name)
        if now > deadline or (state == ACKNOWLEDGED and deadline - now <= ACKED_MIN_LEFT_S):
            return Outcome(job_id, "skipped", "deadline", name)  # stage 0: no gas spent
        try:
            if cancel.is_set():
                raise JobCanceled
            if state == SUBMITTED:  # stage 1
                self._send("acknowledgeJob", job_id)
                deadline = int(self.client.get_jobs([job_id])[job_id]["deadline"])
            if not name:  # stage 5 (resolve model): acked, then fails → times out later
                return Outcome(job_id, "error", "unknown", mid)
            _, now = self.client.head()
            infer(name, cancel, max(0.0, deadline - SETTLE_RESERVE_S - now))
            if cancel.is_set():
                raise JobCanceled
            _, now = self.client.head()
            if deadline - now <= COMPLETION_RESERVE_S:  # ErrJobDoomed
                return Outcome(job_id, "error", "deadline", name)
            ct = keccak(job_id.to_bytes(32, "big") + os.urandom(8))  # stage 6-8
            self._send("completeJob", job_id, keccak(b"blob" + ct), ct)
            _, done_at = self.client.head()
            return Outcome(job_id, "ok", "", name, completed_at=done_at)
        except JobCanceled:
            return Outcome(job_id, "error", "ctx_canceled", name)
        except (Reverted, ChainError):
            return Outcome(job_id, "error", "chain_tx_failed", name)

    # --- release scheduler (§10) -------------------------------------------------------------------------
    def release_ready(self, job_ids: list[int]) -> list[int]:
        """Release the given Completed jobs whose dispute window has passed; returns the ids released."""
        if not job_ids:
            return []
        _, now = self.client.head()
        window = int(self.client.call(self.client.ai_config, "getDisputeWindow"))
        jobs = self.client.get_jobs(job_ids)
        ready = [j for j, job in jobs.items() if job["state"] == COMPLETED and int(job["completedAt"]) + window <= now]
        if ready:
            try:
                self._send("releaseJobs", ready)
            except (Reverted, ChainError):
                return []
        return ready

    # --- the older synchronous pass ----------------------------------------------------------------------
    def _scan(self, head: int) -> None:
        frm = max(0, head - 10_000) if self._cursor is None else self._cursor + 1
        if frm <= head:
            self._open.update(jid for _, jid in self._my_jobs(frm, head))
        self._cursor = head

    def step(self) -> dict:
        """One pass: find new jobs, ack + complete the ones we can serve. Returns counts for this pass."""
        done = {"acknowledged": 0, "completed": 0, "skipped": 0, "released": 0, "errors": 0}
        head, now = self.client.head()
        self._scan(head)
        jobs = self.client.get_jobs(sorted(self._open))
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
            done["released"] = self._release_all(now)
        for k, v in done.items():
            self.totals[k] += v
        return done

    def _release_all(self, now: int) -> int:
        topic_worker = "0x" + "00" * 12 + self.address[2:].lower()
        logs = self.client.get_logs(self.jr.address or "", [self.jr.topic("JobCompleted"), None, topic_worker],
                                    0, self.client.head()[0], chunk=self.chunk)
        return len(self.release_ready(sorted({int(lg["topics"][1], 16) for lg in logs})))
