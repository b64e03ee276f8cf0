"""JobIndex: this worker's job ids from logs (chunked scans since registration), cached in a JSON file.

Cursors are per log kind (JobCompleted with topic2 = worker; JobSubmitted decoded, since ``worker`` is not
indexed). Jobs that reached a final state (Released, TimedOut, Resolved with no escrow, foreign) are marked so
they are never counted again, and what earnings needs of them (``snap``: SNAP_FIELDS; the released ``share`` from
its JobReleased log) is kept, since a final job never changes: it is read from the chain once. The
WorkerWithdrawal scan keeps its cursor and sum in ``scans`` and reads only new blocks. The cache is bound to
(chain id, worker, JobRegistry); a mismatch resets it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from eth_utils import to_checksum_address

from tray_agent.common.atomic import atomic_write

from .client import ChainClient

SUBMITTED, ACKNOWLEDGED, COMPLETED, TIMED_OUT, DISPUTED, RESOLVED, RELEASED = range(7)
STATE_NAMES = ("Submitted", "Acknowledged", "Completed", "TimedOut", "Disputed", "Resolved", "Released")
CACHE_VERSION = 1
# all earnings() reads of a job: its state and share, and its timing against the deadline (the jobs table)
SNAP_FIELDS = ("state", "escrowedFee", "completedAt", "completionBlockNumber", "ackTimestamp", "deadline",
               "submittedAt")


def topic_address(address: str) -> str:
    return "0x" + "00" * 12 + to_checksum_address(address)[2:].lower()


def is_final(job: dict, worker: str) -> bool:
    """True when the job can never change this worker's money again."""
    if job["worker"].lower() != worker.lower():
        return True
    state = job["state"]
    return state in (TIMED_OUT, RELEASED) or (state == RESOLVED and job["escrowedFee"] == 0)


def find_registration_block(client: ChainClient, worker: str, head: int, *, chunk: int = 5000) -> int:
    """Block of the latest WorkerRegistered(worker), scanning backwards from ``head`` (no archive node needed)."""
    reg = client.registry
    topics = [reg.topic("WorkerRegistered"), topic_address(worker)]
    end = head
    while end >= 0:
        start = max(0, end - chunk + 1)
        logs = client.get_logs(reg.address or "", topics, start, end, chunk=chunk)
        if logs:
            return max(int(lg["blockNumber"], 16) for lg in logs)
        end = start - 1
    return 0


class JobIndex:
    def __init__(self, client: ChainClient, worker: str, cache_path: Path | None = None):
        self.client = client
        self.worker = to_checksum_address(worker)
        self.cache_path = Path(cache_path) if cache_path else None
        self.data = self._load()

    # ---- persistence ----
    def _identity(self) -> dict:
        return {"chain_id": self.client.chain_id(), "worker": self.worker,
                "job_registry": (self.client.job_registry.address or "").lower()}

    def _empty(self) -> dict:
        return {"version": CACHE_VERSION, **self._identity(), "start_block": None,
                "completed_to": None, "submitted_to": None, "jobs": {}}

    def _load(self) -> dict:
        if self.cache_path and self.cache_path.exists():
            try:
                data = json.loads(self.cache_path.read_text())
            except (OSError, ValueError):
                return self._empty()
            ident = self._identity()
            if data.get("version") == CACHE_VERSION and all(data.get(k) == v for k, v in ident.items()):
                return data
        return self._empty()

    def save(self) -> None:
        if self.cache_path:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.cache_path, json.dumps(self.data, indent=1, sort_keys=True))

    # ---- scanning ----
    def start_block(self, head: int, explicit: int | None = None) -> int:
        if explicit is not None:
            self.data["start_block"] = int(explicit)
        if self.data.get("start_block") is None:
            self.data["start_block"] = find_registration_block(self.client, self.worker, head)
        return int(self.data["start_block"])

    def _job(self, job_id: int) -> dict:
        return self.data["jobs"].setdefault(str(job_id), {"completed": False, "final": None})

    def refresh(self, *, head: int, start_block: int | None = None, submitted: bool = False, timed_out: bool = False,
                chunk: int = 5000, progress: Callable[[int, int], None] | None = None) -> int:
        """Scan new logs up to ``head``; returns how many new job ids were found. ``timed_out`` also records this
        worker's JobTimedOut events with the stake they slashed (worker is indexed: one filtered scan)."""
        jr = self.client.job_registry
        start = self.start_block(head, start_block)
        before = len(self.data["jobs"])
        frm = self.data["completed_to"] + 1 if self.data.get("completed_to") is not None else start
        if frm <= head:
            logs = self.client.get_logs(jr.address or "", [jr.topic("JobCompleted"), None, topic_address(self.worker)],
                                        frm, head, chunk=chunk, progress=progress)
            for lg in logs:
                self._job(int(lg["topics"][1], 16))["completed"] = True
            self.data["completed_to"] = head
        if timed_out:
            frm = self.data["timed_out_to"] + 1 if self.data.get("timed_out_to") is not None else start
            if frm <= head:
                for lg in self.client.get_logs(jr.address or "", [jr.topic("JobTimedOut"), None,
                                                                  topic_address(self.worker)], frm, head, chunk=chunk):
                    d = jr.decode_log(lg)
                    if d:
                        job = self._job(int(d.args["jobId"]))
                        job["slash_wei"] = str(int(d.args["slashAmount"]))
                        job["final"] = STATE_NAMES[TIMED_OUT]
                self.data["timed_out_to"] = head
        if submitted:
            frm = self.data["submitted_to"] + 1 if self.data.get("submitted_to") is not None else start
            if frm <= head:
                for lg in self.client.get_logs(jr.address or "", [jr.topic("JobSubmitted")], frm, head, chunk=chunk,
                                               progress=progress):
                    d = jr.decode_log(lg)
                    if d and d.args["worker"].lower() == self.worker.lower():
                        self._job(int(d.args["jobId"]))
                self.data["submitted_to"] = head
        return len(self.data["jobs"]) - before

    # ---- queries ----
    def ids(self, *, completed_only: bool = False, include_final: bool = False) -> list[int]:
        out = []
        for k, v in self.data["jobs"].items():
            if completed_only and not v.get("completed"):
                continue
            if v.get("final") is not None and not include_final:
                continue
            out.append(int(k))
        return sorted(out)

    def recent_sessions(self, jobs: int = 100, limit: int = 50) -> list[int]:
        """Session ids of this worker's newest ``jobs`` jobs (newest first, at most ``limit``): the sessions that
        may still send it jobs."""
        out: list[int] = []
        for k in sorted(self.data["jobs"], key=int, reverse=True)[:jobs]:
            sid = self.data["jobs"][k].get("session")
            if sid and sid not in out:
                out.append(int(sid))
        return out[:limit]

    def timed_out(self) -> dict[int, int]:
        """Job id → stake slashed, for this worker's timed-out jobs seen by a ``timed_out`` scan."""
        return {int(k): int(v["slash_wei"]) for k, v in self.data["jobs"].items() if "slash_wei" in v}

    def snapshot(self, job_id: int) -> dict | None:
        """The kept fields of a final job (it never changes again), or None when the job must be read."""
        v = self.data["jobs"].get(str(job_id)) or {}
        return v.get("snap") if v.get("final") is not None else None

    def scans(self, start: int) -> dict:
        """Cursors (and sums) of the scans made from ``start``; when the index start moved, they and the kept
        shares start over."""
        scans = self.data.get("scans")
        if not scans or scans.get("start") != start:
            self.data["scans"] = scans = {"start": start}
            for v in self.data["jobs"].values():
                v.pop("share", None)
        return scans

    def scan_from(self, kind: str, start: int) -> int:
        """First block of ``kind`` logs not read yet (``start`` when never scanned)."""
        to = self.scans(start).get(f"{kind}_to")
        return start if to is None else int(to) + 1

    def scanned(self, kind: str, head: int, **values: int | str) -> None:
        """Record that ``kind`` logs were read up to ``head`` (with what was summed from them)."""
        self.data["scans"].update({f"{kind}_to": head, **values})

    def mark_final(self, job_id: int, state: int | str) -> None:
        self._job(job_id)["final"] = STATE_NAMES[state] if isinstance(state, int) else state

    def update_from(self, jobs: dict[int, dict]) -> None:
        for jid, job in jobs.items():
            if job["worker"].lower() == self.worker.lower() and job.get("sessionId"):
                self._job(jid)["session"] = int(job["sessionId"])
            if job["state"] in (COMPLETED, RESOLVED, RELEASED, DISPUTED):
                self._job(jid)["completed"] = True
            if is_final(job, self.worker):
                self.mark_final(jid, job["state"] if job["worker"].lower() == self.worker.lower() else "foreign")
                self._job(jid)["snap"] = {k: int(job.get(k) or 0) for k in SNAP_FIELDS}
