"""ChainClient: reads (single calls, one-request batches, chunked logs) against one Network's RPC."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from eth_utils import is_address, to_checksum_address

from ..networks import Network, funding_threshold_wei
from .abi import Contract
from .errors import ChainError, RpcBadResponse, RpcError, WrongChain
from .models import candidate_names, model_id, model_id_bytes
from .rpc import RpcClient

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def to_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.startswith("0x"):
        return int(value, 16)
    raise RpcBadResponse(f"expected a hex quantity, got {str(value)[:40]!r}")


@dataclass(frozen=True)
class ModelInfo:
    name: str
    model_id: str
    fee_wei: int
    whitelisted: bool
    enabled: bool
    served: bool
    eligible: bool

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fee_wei"] = str(self.fee_wei)
        return d


@dataclass(frozen=True)
class ChainSnapshot:
    """Everything the dashboard needs, read in one batched JSON-RPC request."""

    address: str
    chain_id: int
    block_number: int
    block_timestamp: int
    registered: bool
    stake_wei: int
    min_stake_wei: int
    funding_threshold_wei: int
    balance_wei: int
    worker_balance_wei: int
    active_jobs: int
    suspended: bool
    suspended_until: int
    offense_count: int
    encryption_key: str
    dispute_window_s: int
    worker_fee_bps: int
    paused: bool
    models: tuple[ModelInfo, ...] = field(default_factory=tuple)

    @property
    def served_models(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.models if m.served)

    @property
    def understaked(self) -> bool:
        return self.registered and self.stake_wei < self.min_stake_wei

    def to_dict(self) -> dict:
        d = asdict(self)
        for k, v in list(d.items()):
            if k.endswith("_wei"):
                d[k] = str(v)
        d["models"] = [m.to_dict() for m in self.models]
        d["served_models"] = list(self.served_models)
        d["understaked"] = self.understaked
        return d


class ChainClient:
    """Reads for one network. Contract addresses come from the Network, else from the 0x…1002 predeploy."""

    def __init__(self, network: Network, rpc_url: str | None = None, *, timeout_s: float = 10.0,
                 on_request: Callable[[Any], None] | None = None):
        self.network = network
        self.rpc = RpcClient(rpc_url or network.rpc_url, timeout_s=timeout_s, on_request=on_request)
        self.registry = Contract.worker("WorkerRegistry", network.worker_registry)
        self._ai_config: Contract | None = (
            Contract.worker("AIConfig", network.ai_config) if is_address(network.ai_config) else None
        )
        self._job_registry: Contract | None = (
            Contract.worker("JobRegistry", network.job_registry) if is_address(network.job_registry) else None
        )
        self._chain_id: int | None = None

    # ---- wiring ----
    def resolve_addresses(self) -> tuple[str, str]:
        """(aiConfig, jobRegistry) as the predeploy reports them (one batched request)."""
        ai, jr = self.read_many([(self.registry, "aiConfig", ()), (self.registry, "jobRegistry", ())])
        return ai, jr

    def _ensure_wiring(self) -> None:
        if self._ai_config is None or self._job_registry is None:
            ai, jr = self.resolve_addresses()
            self._ai_config = self._ai_config or Contract.worker("AIConfig", ai)
            self._job_registry = self._job_registry or Contract.worker("JobRegistry", jr)

    @property
    def ai_config(self) -> Contract:
        self._ensure_wiring()
        assert self._ai_config is not None
        return self._ai_config

    @property
    def job_registry(self) -> Contract:
        self._ensure_wiring()
        assert self._job_registry is not None
        return self._job_registry

    # ---- basics ----
    def chain_id(self, *, fresh: bool = False) -> int:
        if self._chain_id is None or fresh:
            self._chain_id = to_int(self.rpc.call("eth_chainId"))
        return self._chain_id

    def ensure_chain(self) -> int:
        """Re-read eth_chainId and refuse (WrongChain) if it is not the selected network's."""
        cid = self.chain_id(fresh=True)
        if cid != self.network.chain_id:
            raise WrongChain(self.network.chain_id, cid, self.network.label or self.network.name)
        return cid

    def block(self, tag: str | int = "latest") -> dict:
        t = hex(tag) if isinstance(tag, int) else tag
        b = self.rpc.call("eth_getBlockByNumber", [t, False])
        if not isinstance(b, dict) or "number" not in b:
            raise RpcBadResponse(f"no block {tag} in the RPC answer")
        return b

    def head(self) -> tuple[int, int]:
        """(block number, timestamp) of the latest block."""
        b = self.block("latest")
        return to_int(b["number"]), to_int(b["timestamp"])

    def balance(self, address: str, block: str = "latest") -> int:
        return to_int(self.rpc.call("eth_getBalance", [to_checksum_address(address), block]))

    def nonce(self, address: str, block: str = "pending") -> int:
        return to_int(self.rpc.call("eth_getTransactionCount", [to_checksum_address(address), block]))

    def receipt(self, tx_hash: str) -> dict | None:
        """The transaction's receipt, or None while it is not mined (or was never broadcast)."""
        rcpt = self.rpc.call("eth_getTransactionReceipt", [tx_hash])
        return rcpt if isinstance(rcpt, dict) else None

    def transaction(self, tx_hash: str) -> dict | None:
        """The transaction as the node knows it (mined or pending), or None when the node has never seen it."""
        tx = self.rpc.call("eth_getTransactionByHash", [tx_hash])
        return tx if isinstance(tx, dict) else None

    def code(self, address: str) -> str:
        return self.rpc.call("eth_getCode", [to_checksum_address(address), "latest"])

    # ---- contract reads ----
    @staticmethod
    def _call_params(contract: Contract, fn: str, args: Sequence[Any], sender: str | None, value: int,
                     block: str | int) -> list:
        tx: dict[str, Any] = {"to": contract.address, "data": contract.encode(fn, *args)}
        if sender:
            tx["from"] = to_checksum_address(sender)
        if value:
            tx["value"] = hex(value)
        return [tx, hex(block) if isinstance(block, int) else block]

    def call(self, contract: Contract, fn: str, *args: Any, sender: str | None = None, value: int = 0,
             block: str | int = "latest") -> Any:
        """eth_call and decode; a revert raises CallReverted with the decoded custom error."""
        raw = self.rpc.call("eth_call", self._call_params(contract, fn, args, sender, value, block))
        return contract.decode_output(fn, raw)

    def read_many(self, calls: Sequence[tuple[Contract, str, Sequence[Any]]], *, sender: str | None = None,
                  block: str | int = "latest", raise_errors: bool = True) -> list[Any]:
        """N eth_calls in ONE HTTP request; failed items raise (or are returned as exceptions)."""
        results = self.rpc.batch([("eth_call", self._call_params(c, f, a, sender, 0, block)) for c, f, a in calls])
        out = []
        for (c, f, _), r in zip(calls, results, strict=False):
            if isinstance(r, Exception):
                if raise_errors:
                    raise r
                out.append(r)
            else:
                out.append(c.decode_output(f, r))
        return out

    def probe(self, contract: Contract, fn: str, args_list: Sequence[Sequence[Any]], sender: str) -> list[Exception | None]:
        """eth_call the same function for many argument lists in one request: None = would succeed."""
        res = self.rpc.batch([("eth_call", self._call_params(contract, fn, a, sender, 0, "latest")) for a in args_list])
        return [r if isinstance(r, Exception) else None for r in res]

    def get_logs(self, address: str, topics: list, from_block: int, to_block: int, *, chunk: int = 5000,
                 progress: Callable[[int, int], None] | None = None) -> list[dict]:
        """eth_getLogs over [from_block, to_block] in chunks; halves the chunk when the node refuses a range."""
        logs: list[dict] = []
        start = from_block
        size = max(1, chunk)
        while start <= to_block:
            end = min(to_block, start + size - 1)
            try:
                part = self.rpc.call("eth_getLogs", [{
                    "address": to_checksum_address(address), "topics": topics,
                    "fromBlock": hex(start), "toBlock": hex(end),
                }])
            except RpcError as e:
                if size > 1 and any(s in e.message.lower() for s in ("range", "limit", "too many", "exceed")):
                    size = max(1, size // 2)
                    continue
                raise
            if not isinstance(part, list):
                raise RpcBadResponse("eth_getLogs did not return a list")
            logs.extend(part)
            if progress:
                progress(end, to_block)
            start = end + 1
        return logs

    # ---- dashboard ----
    def snapshot(self, address: str, models: Sequence[str] | None = None) -> ChainSnapshot:
        """All dashboard reads for ``address`` in ONE batched JSON-RPC request (after wiring is known)."""
        addr = to_checksum_address(address)
        names = candidate_names(models)
        reg, ai, jr = self.registry, self.ai_config, self.job_registry
        calls: list[tuple[str, list]] = [
            ("eth_chainId", []),
            ("eth_getBlockByNumber", ["latest", False]),
            ("eth_getBalance", [addr, "latest"]),
        ]
        views: list[tuple[Contract, str, tuple]] = [
            (reg, "isWorkerRegistered", (addr,)), (reg, "getWorkerStake", (addr,)), (ai, "getMinWorkerStake", ()),
            (jr, "workerBalance", (addr,)), (reg, "getActiveJobCount", (addr,)), (reg, "isWorkerSuspended", (addr,)),
            (reg, "getSuspendedUntil", (addr,)), (reg, "getOffenseCount", (addr,)),
            (reg, "getWorkerEncryptionKey", (addr,)), (ai, "getDisputeWindow", ()), (ai, "getWorkerFeeBps", ()),
            (reg, "paused", ()),
        ]
        per_model = ("workerSupportsModel", "isModelWhitelisted", "isModelEnabled", "getModelFee", "isEligible")
        for n in names:
            mid = model_id_bytes(n)
            views += [(reg, "workerSupportsModel", (addr, mid)), (reg, "isModelWhitelisted", (mid,)),
                      (ai, "isModelEnabled", (mid,)), (ai, "getModelFee", (mid,)), (reg, "isEligible", (addr, mid))]
        calls += [("eth_call", self._call_params(c, f, a, None, 0, "latest")) for c, f, a in views]
        res = self.rpc.batch(calls)
        for r in res:
            if isinstance(r, Exception):
                raise r
        cid = to_int(res[0])
        if cid != self.network.chain_id:
            raise WrongChain(self.network.chain_id, cid, self.network.label or self.network.name)
        blk, bal = res[1], to_int(res[2])
        dec = [c.decode_output(f, r) for (c, f, _), r in zip(views, res[3:], strict=False)]
        (registered, stake, min_stake, wbal, active, suspended, until, offenses, key, window, wbps, paused) = dec[:12]
        infos = []
        for i, n in enumerate(names):
            served, wl, en, fee, elig = dec[12 + i * len(per_model): 12 + (i + 1) * len(per_model)]
            infos.append(ModelInfo(n, model_id(n), int(fee), bool(wl), bool(en), bool(served), bool(elig)))
        return ChainSnapshot(
            address=addr, chain_id=cid, block_number=to_int(blk["number"]), block_timestamp=to_int(blk["timestamp"]),
            registered=bool(registered), stake_wei=int(stake), min_stake_wei=int(min_stake),
            funding_threshold_wei=funding_threshold_wei(int(min_stake), self.network), balance_wei=bal,
            worker_balance_wei=int(wbal), active_jobs=int(active), suspended=bool(suspended),
            suspended_until=int(until), offense_count=int(offenses), encryption_key=key,
            dispute_window_s=int(window), worker_fee_bps=int(wbps), paused=bool(paused), models=tuple(infos),
        )

    def is_still_staked(self, address: str) -> bool:
        """True while ``address`` is registered or holds stake (archived keys: money still locked)."""
        registered, stake = self.read_many([
            (self.registry, "isWorkerRegistered", (to_checksum_address(address),)),
            (self.registry, "getWorkerStake", (to_checksum_address(address),)),
        ])
        return bool(registered) or int(stake) > 0

    def get_job(self, job_id: int) -> dict:
        return self.call(self.job_registry, "getJob", job_id)

    def get_jobs(self, job_ids: Sequence[int], *, batch: int = 200) -> dict[int, dict]:
        """getJob for many ids, ``batch`` per HTTP request."""
        out: dict[int, dict] = {}
        ids = list(job_ids)
        for i in range(0, len(ids), batch):
            part = ids[i:i + batch]
            res = self.read_many([(self.job_registry, "getJob", (j,)) for j in part], raise_errors=False)
            for j, r in zip(part, res, strict=False):
                if isinstance(r, ChainError) and not isinstance(r, RpcError):
                    if getattr(r, "error_name", "") == "JobNotFound":
                        continue
                if isinstance(r, Exception):
                    raise r
                out[j] = r
        return out


def is_still_staked(network: Network, address: str, rpc_url: str | None = None) -> bool:
    """Convenience for archived keys: is this address still registered / holding stake?"""
    return ChainClient(network, rpc_url).is_still_staked(address)
