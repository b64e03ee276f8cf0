"""Protocol self-check: resolve the wiring from the 0x…1002 predeploy and compare with the Network."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from eth_utils import is_address, to_checksum_address

from ..client import ZERO_ADDRESS, ChainClient, to_int
from ..errors import ChainError, WrongChain


@dataclass(frozen=True)
class SelfCheckResult:
    ok: bool
    chain_id: int
    ai_config: str
    job_registry: str
    sortition_enabled: bool | None
    session_manager: str
    drift: list[dict] = field(default_factory=list)  # [{field, expected, actual}]
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _same(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def protocol_self_check(client: ChainClient) -> SelfCheckResult:
    """Chain id, predeploy code, aiConfig()/jobRegistry(), sortition flag and session manager vs the Network."""
    net, reg = client.network, client.registry
    res = client.rpc.batch([
        ("eth_chainId", []),
        ("eth_getCode", [reg.address, "latest"]),
        ("eth_call", [{"to": reg.address, "data": reg.encode("aiConfig")}, "latest"]),
        ("eth_call", [{"to": reg.address, "data": reg.encode("jobRegistry")}, "latest"]),
    ])
    if isinstance(res[0], Exception):
        raise res[0]
    cid = to_int(res[0])
    if cid != net.chain_id:
        raise WrongChain(net.chain_id, cid, net.label or net.name)
    problems: list[str] = []
    if isinstance(res[1], Exception) or res[1] in ("0x", "", None):
        problems.append(f"no WorkerRegistry code at {reg.address}")
    ai = jr = ZERO_ADDRESS
    for i, name in ((2, "aiConfig"), (3, "jobRegistry")):
        if isinstance(res[i], Exception):
            problems.append(f"WorkerRegistry.{name}() failed: {getattr(res[i], 'message', res[i])}")
        else:
            try:
                val = reg.decode_output(name, res[i])
            except ChainError as e:
                problems.append(f"WorkerRegistry.{name}() failed: {e.message}")
                continue
            ai, jr = (val, jr) if name == "aiConfig" else (ai, val)
    sortition: bool | None = None
    manager = ""
    if ai != ZERO_ADDRESS:
        from ..abi import Contract

        aic = Contract.worker("AIConfig", ai)
        more = client.rpc.batch([
            ("eth_call", [{"to": ai, "data": aic.encode("getSortitionEnabled")}, "latest"]),
            ("eth_call", [{"to": ai, "data": aic.encode("getSessionManagerAddress")}, "latest"]),
            ("eth_getCode", [ai, "latest"]),
            ("eth_getCode", [jr, "latest"]),
        ])
        try:
            if not isinstance(more[0], ChainError):
                sortition = bool(aic.decode_output("getSortitionEnabled", more[0]))
            if not isinstance(more[1], ChainError):
                m = aic.decode_output("getSessionManagerAddress", more[1])
                manager = "" if m == ZERO_ADDRESS else m
        except ChainError as e:
            problems.append(f"AIConfig era getters failed: {e.message}")
        for code, what in ((more[2], "AIConfig"), (more[3], "JobRegistry")):
            if isinstance(code, Exception) or code in ("0x", "", None):
                problems.append(f"no {what} code at the address the predeploy reports")
    drift: list[dict] = []

    def compare(field_name: str, expected: str, actual: str) -> None:
        if is_address(expected) and (not actual or not _same(expected, actual)):
            drift.append({"field": field_name, "expected": to_checksum_address(expected), "actual": actual})

    compare("ai_config", net.ai_config, ai)
    compare("job_registry", net.job_registry, jr)
    compare("session_manager", net.session_manager, manager)
    if sortition is not None and sortition != net.sortition_enabled:
        drift.append({"field": "sortition_enabled", "expected": net.sortition_enabled, "actual": sortition})
    return SelfCheckResult(ok=not drift and not problems, chain_id=cid, ai_config=ai, job_registry=jr,
                           sortition_enabled=sortition, session_manager=manager, drift=drift, problems=problems)
