"""Network demand per model, read from the chain: jobs submitted per model over a time window, the job fee per model
and how many workers are eligible for each model.

Jobs come from ``JobSubmitted`` logs; their model from the session (``SessionCreated`` topic 3, read in the same
``eth_getLogs`` filter, or ``getSession`` for sessions opened before the scanned range — a session's model never
changes). Logs are read in block chunks, many chunks per JSON-RPC batch, and cached on disk (per network) so a
refresh reads only blocks it has not seen. The window start block is found by a k-ary search over block headers
(one batch per step, narrowed by the headers cached from earlier refreshes). Requests per refresh are bounded: one
batch of views, ≤ 1 header batch per search step, one log batch per ``CHUNKS_PER_REQUEST`` chunks, one session batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eth_utils import to_checksum_address

from tray_agent.common.atomic import atomic_write

from .client import ChainClient, to_int
from .errors import RpcBadResponse, RpcError, WrongChain
from .models import model_id, model_id_bytes

CACHE_VERSION = 1
LOG_CHUNK = 5000            # blocks per eth_getLogs
CHUNKS_PER_REQUEST = 20     # eth_getLogs per HTTP batch
HEADER_PROBES = 24          # block headers per search step
SESSIONS_PER_REQUEST = 200
NEAR_ANCHORS = 96           # block → timestamp pairs kept just above the window start for the next search
DAY_S = 86400


@dataclass(frozen=True)
class ModelDemand:
    name: str
    model_id: str
    jobs: int          # jobs submitted in the window
    fee_wei: int       # calculateJobFee: what a consumer pays per job
    workers: int       # eligible workers (getEligibleWorkers), this worker included when it is one
    serving: bool      # this worker is among them

    def to_dict(self) -> dict:
        return {**asdict(self), "fee_wei": str(self.fee_wei)}


@dataclass(frozen=True)
class Demand:
    chain_id: int
    head_block: int
    head_ts: int
    window_s: int
    covered_s: int          # the part of the window the chain existed for (a young chain covers less)
    start_block: int
    worker_fee_bps: int
    completion_timeout_s: int
    models: tuple[ModelDemand, ...] = field(default_factory=tuple)
    other_jobs: int = 0     # jobs of models outside the list asked about
    rpc_requests: int = 0   # HTTP requests this refresh sent
    blocks_scanned: int = 0

    def to_dict(self) -> dict:
        return {**asdict(self), "models": [m.to_dict() for m in self.models]}


class DemandIndex:
    """The cached scan of one network's JobRegistry; ``refresh()`` returns a :class:`Demand`."""

    def __init__(self, client: ChainClient, cache_path: Path | None = None, *, chunk: int = LOG_CHUNK):
        self.client = client
        self.cache_path = Path(cache_path) if cache_path else None
        self.chunk = max(1, chunk)
        self.data: dict | None = None

    # ---- cache ----
    def _identity(self, chain_id: int) -> dict:
        return {"version": CACHE_VERSION, "chain_id": chain_id,
                "job_registry": (self.client.job_registry.address or "").lower()}

    def _load(self, chain_id: int) -> dict:
        ident = self._identity(chain_id)
        data = self.data
        if data is None and self.cache_path and self.cache_path.exists():
            try:
                data = json.loads(self.cache_path.read_text())
            except (OSError, ValueError):
                data = None
        if not isinstance(data, dict) or any(data.get(k) != v for k, v in ident.items()):
            data = self._empty(chain_id)
        return data

    def _empty(self, chain_id: int) -> dict:
        return {**self._identity(chain_id), "from": None, "to": None, "jobs": [], "sessions": {}, "anchors": {}}

    def _save(self) -> None:
        if self.cache_path and self.data is not None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.cache_path, json.dumps(self.data, separators=(",", ":")))

    # ---- refresh ----
    def refresh(self, names: Sequence[str], window_s: int, me: str | None = None) -> Demand:
        rpc = self.client.rpc
        before = rpc.http_requests
        names = list(dict.fromkeys(names))
        chain_id, head, head_ts, bps, timeout, fees, eligible = self._views(names)
        data = self.data = self._load(chain_id)
        if data["to"] is not None and data["to"] > head:  # the chain was reset (devnet): start over
            data = self.data = self._empty(chain_id)
        anchors: dict[str, int] = data["anchors"]
        anchors[str(head)] = head_ts
        start, covered = self._window_start(head, head_ts, window_s, anchors)
        ranges = []
        if data["to"] is None:
            ranges.append((start, head))
        else:
            if start < data["from"]:
                ranges.append((start, data["from"] - 1))
            if data["to"] < head:  # (a cache older than the window: from the window start, not the old end)
                ranges.append((max(data["to"] + 1, start), head))
        scanned = sum(b - a + 1 for a, b in ranges)
        self._scan(ranges, data)
        data["from"], data["to"] = start, head
        data["jobs"] = sorted(j for j in data["jobs"] if j[0] >= start)
        live = {str(sid) for _, sid in data["jobs"]}
        self._resolve_sessions(live - set(data["sessions"]), data)
        data["sessions"] = {k: v for k, v in data["sessions"].items() if k in live}
        data["anchors"] = keep_anchors(anchors, start)
        self._save()
        counts: dict[str, int] = {}
        for _, sid in data["jobs"]:
            mid = data["sessions"].get(str(sid))
            if mid:
                counts[mid] = counts.get(mid, 0) + 1
        me_l = me.lower() if me else None
        models = []
        for n in names:
            mid = model_id(n)
            ws = [w.lower() for w in eligible.get(n, ())]
            models.append(ModelDemand(n, mid, counts.pop(mid, 0), fees.get(n, 0), len(ws), bool(me_l and me_l in ws)))
        return Demand(chain_id=chain_id, head_block=head, head_ts=head_ts, window_s=int(window_s),
                      covered_s=covered, start_block=start, worker_fee_bps=bps, completion_timeout_s=timeout,
                      models=tuple(models), other_jobs=sum(counts.values()),
                      rpc_requests=rpc.http_requests - before, blocks_scanned=scanned)

    def _views(self, names: list[str]):
        """chain id, head, fee split, deadline, fee and eligible workers per model: ONE batched request."""
        c, reg, ai = self.client, self.client.registry, self.client.ai_config
        views = [(ai, "getWorkerFeeBps", ()), (ai, "getCompletionTimeout", ())]
        for n in names:
            mid = model_id_bytes(n)
            views += [(ai, "calculateJobFee", (mid,)), (reg, "getEligibleWorkers", (mid,))]
        calls = [("eth_chainId", []), ("eth_getBlockByNumber", ["latest", False])]
        calls += [("eth_call", c._call_params(ct, f, a, None, 0, "latest")) for ct, f, a in views]
        res = c.rpc.batch(calls)
        for r in res[:4]:
            if isinstance(r, Exception):
                raise r
        chain_id = to_int(res[0])
        if chain_id != c.network.chain_id:
            raise WrongChain(c.network.chain_id, chain_id, c.network.label or c.network.name)
        head, head_ts = to_int(res[1]["number"]), to_int(res[1]["timestamp"])
        dec = []
        for (ct, f, _), r in zip(views, res[2:], strict=True):
            dec.append(r if isinstance(r, Exception) else ct.decode_output(f, r))
        bps, timeout = int(dec[0]), int(dec[1])
        fees: dict[str, int] = {}
        eligible: dict[str, list[str]] = {}
        for i, n in enumerate(names):
            fee, ws = dec[2 + 2 * i], dec[3 + 2 * i]
            if isinstance(fee, RpcError) or isinstance(ws, RpcError):
                raise fee if isinstance(fee, RpcError) else ws  # type: ignore[misc]
            fees[n] = 0 if isinstance(fee, Exception) else int(fee)  # a revert: the model is not configured
            eligible[n] = [] if isinstance(ws, Exception) else [to_checksum_address(w) for w in ws]
        return chain_id, head, head_ts, bps, timeout, fees, eligible

    def _headers(self, blocks: list[int], anchors: dict[str, int]) -> None:
        want = [b for b in blocks if str(b) not in anchors]
        if not want:
            return
        res = self.client.rpc.batch([("eth_getBlockByNumber", [hex(b), False]) for b in want])
        for b, r in zip(want, res, strict=True):
            if isinstance(r, Exception):
                raise r
            if not isinstance(r, dict) or "timestamp" not in r:
                raise RpcBadResponse(f"no header for block {b}")
            anchors[str(b)] = to_int(r["timestamp"])

    def _window_start(self, head: int, head_ts: int, window_s: int, anchors: dict[str, int]) -> tuple[int, int]:
        """(first block with timestamp ≥ head_ts − window_s, seconds of the window the chain covers)."""
        target = head_ts - int(window_s)
        self._headers([0], anchors)
        if anchors["0"] >= target:
            return 0, max(1, head_ts - anchors["0"])
        known = sorted((int(b), t) for b, t in anchors.items() if int(b) <= head)
        lo = max(b for b, t in known if t < target)       # block 0 qualifies
        hi = min((b for b, t in known if t >= target and b > lo), default=head)
        while hi - lo > 1:
            step = max(1, (hi - lo) // (HEADER_PROBES + 1))
            probes = list(range(lo + step, hi, step))[:HEADER_PROBES]
            self._headers(probes, anchors)
            for b in probes:
                if anchors[str(b)] < target:
                    lo = max(lo, b)
                else:
                    hi = min(hi, b)
                    break
        return hi, int(window_s)

    def _scan(self, ranges: list[tuple[int, int]], data: dict) -> None:
        jr = self.client.job_registry
        t_job, t_session = jr.topic("JobSubmitted"), jr.topic("SessionCreated")
        pending = [(a, min(hi, a + self.chunk - 1)) for lo, hi in ranges for a in range(lo, hi + 1, self.chunk)]
        address = to_checksum_address(jr.address or "")
        while pending:
            part, pending = pending[:CHUNKS_PER_REQUEST], pending[CHUNKS_PER_REQUEST:]
            res = self.client.rpc.batch([("eth_getLogs", [{
                "address": address, "topics": [[t_job, t_session]], "fromBlock": hex(a), "toBlock": hex(b)}])
                for a, b in part])
            for (a, b), r in zip(part, res, strict=True):
                if isinstance(r, RpcError) and b > a and any(
                        s in r.message.lower() for s in ("range", "limit", "too many", "exceed")):
                    mid = (a + b) // 2  # the node refuses this range: split it and ask again
                    pending += [(a, mid), (mid + 1, b)]
                    continue
                if isinstance(r, Exception):
                    raise r
                if not isinstance(r, list):
                    raise RpcBadResponse("eth_getLogs did not return a list")
                for lg in r:
                    topics = lg.get("topics") or []
                    if not topics:
                        continue
                    if topics[0] == t_job and len(topics) > 2:
                        data["jobs"].append([to_int(lg["blockNumber"]), int(topics[2], 16)])
                    elif topics[0] == t_session and len(topics) > 3:
                        data["sessions"][str(int(topics[1], 16))] = "0x" + topics[3][2:].lower().rjust(64, "0")

    def _resolve_sessions(self, unknown: set[str], data: dict) -> None:
        """Sessions opened before the scanned range: their model from getSession (never changes; cached)."""
        jr = self.client.job_registry
        ids = sorted(unknown, key=int)
        for i in range(0, len(ids), SESSIONS_PER_REQUEST):
            part = ids[i:i + SESSIONS_PER_REQUEST]
            res = self.client.read_many([(jr, "getSession", (int(s),)) for s in part], raise_errors=False)
            for s, r in zip(part, res, strict=True):
                if isinstance(r, RpcError):
                    raise r
                if isinstance(r, dict):
                    mid = r["modelId"]
                    data["sessions"][s] = "0x" + (mid.hex() if isinstance(mid, bytes) else str(mid)[2:]).lower()


def keep_anchors(anchors: dict[str, int], start: int) -> dict[str, int]:
    """Headers worth keeping for the next window search: block 0, the one just below the window start, the ones
    just above it (the next start is a little later) and the newest heads."""
    blocks = sorted(int(b) for b in anchors)
    below = [b for b in blocks if b < start][-1:]
    above = [b for b in blocks if b >= start]
    keep = {0, *below, *above[:NEAR_ANCHORS], *above[-NEAR_ANCHORS // 3:]}
    return {str(b): anchors[str(b)] for b in sorted(keep) if str(b) in anchors}


def per_day(count: int, covered_s: int) -> float:
    """A count over ``covered_s`` seconds as a daily rate (display only; money math stays integer)."""
    return count * DAY_S / max(1, covered_s)
