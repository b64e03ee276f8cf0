"""Change the served-model set: diff current vs desired, add/remove on-chain, never re-stake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from tray_agent.common.errors import ValidationError

from ... import failpoints
from ..client import ChainClient
from ..errors import CallReverted, ModelNotAllowed, PreconditionFailed
from ..models import candidate_names, model_id_bytes
from .context import OpContext, Progress, no_progress


@dataclass(frozen=True)
class ModelsResult:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    tx_hashes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def check_models_allowed(client: ChainClient, names: Sequence[str]) -> None:
    """Raise ModelNotAllowed (before any tx) unless every name is whitelisted AND enabled on this network."""
    for n in names:
        if not isinstance(n, str) or not n or n != n.strip():
            raise ValidationError(f"invalid model name {n!r}", fix="use the exact on-chain model name", field="models")
    reg, ai = client.registry, client.ai_config
    calls = []
    for n in names:
        mid = model_id_bytes(n)
        calls += [(reg, "isModelWhitelisted", (mid,)), (ai, "isModelEnabled", (mid,))]
    res = client.read_many(calls)
    bad = []
    for i, n in enumerate(names):
        wl, en = res[2 * i], res[2 * i + 1]
        if not wl:
            bad.append(f"{n!r} is not on this network's model list")
        elif not en:
            bad.append(f"{n!r} is on the list but disabled by the network")
    if bad:
        raise ModelNotAllowed("; ".join(bad), fix="check the exact model name (e.g. llama3-8b) and pick a live model",
                              field="models")


def current_models(client: ChainClient, address: str, candidates: Sequence[str]) -> list[str]:
    """Which of ``candidates`` (plus the known catalog) the worker serves on-chain."""
    names = candidate_names(candidates)
    res = client.read_many([(client.registry, "workerSupportsModel", (address, model_id_bytes(n))) for n in names])
    return [n for n, s in zip(names, res, strict=False) if s]


@failpoints.scoped("set_models")
def change_models(ctx: OpContext, desired: Sequence[str], *, known: Sequence[str] = (),
                  progress: Progress = no_progress) -> ModelsResult:
    """Make the on-chain served set equal ``desired``. ``known`` lists other names the worker may serve."""
    want = list(dict.fromkeys(desired))
    if not want:
        raise ValidationError("keep at least one model (deregister to stop serving entirely)", field="models")
    c, reg, me = ctx.client, ctx.client.registry, ctx.address
    c.ensure_chain()
    if not c.call(reg, "isWorkerRegistered", me):
        raise PreconditionFailed("this worker is not registered", fix="register first")
    have = current_models(c, me, [*want, *known])
    to_add = [n for n in want if n not in have]
    to_remove = [n for n in have if n not in want]
    check_models_allowed(c, to_add)
    for n in to_remove:  # preflight every removal before sending anything
        try:
            ctx.sender.preflight(reg, "removeSupportedModel", model_id_bytes(n))
        except CallReverted as e:
            raise PreconditionFailed(f"cannot remove {n}: {e.message}", fix=e.fix, eta=e.eta) from e
    hashes: list[str] = []
    total = max(1, len(to_add) + len(to_remove))
    if to_add or to_remove:
        with ctx.gate.session(progress):
            steps = [("adding", "addSupportedModel", n) for n in to_add] + \
                    [("removing", "removeSupportedModel", n) for n in to_remove]
            for i, (verb, fn, n) in enumerate(steps):
                if i:
                    failpoints.hit("set_models.between_txs")
                progress(f"{verb} model {n}", i / total)
                hashes.append(ctx.tx(reg, fn, model_id_bytes(n), progress=progress).tx_hash)
    progress("models updated", 1.0)
    return ModelsResult(added=to_add, removed=to_remove, unchanged=[n for n in want if n in have], tx_hashes=hashes)
