"""Register the worker (stake = on-chain minimum) and add its served models. Idempotent and crash-safe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from tray_agent.common.amounts import format_lcai
from tray_agent.common.errors import ValidationError

from ... import failpoints
from ...networks import funding_threshold_wei
from ..errors import InsufficientFunds, PreconditionFailed
from ..models import model_id_bytes
from .context import OpContext, Progress, no_progress
from .served_models import check_models_allowed


@dataclass(frozen=True)
class RegisterResult:
    address: str
    registered_now: bool
    stake_wei: int
    models_added: list[str] = field(default_factory=list)
    models_already: list[str] = field(default_factory=list)
    tx_hashes: list[str] = field(default_factory=list)
    low_gas_warning: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["stake_wei"] = str(self.stake_wei)
        return d


def validate_encryption_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) != 65 or key[0] != 0x04:
        raise ValidationError("the encryption key must be a 65-byte uncompressed P-256 public key (0x04…)",
                              fix="regenerate the worker's encryption key", field="encryption_key")
    return bytes(key)


@failpoints.scoped("register")
def register(ctx: OpContext, encryption_pubkey: bytes, models: Sequence[str], *,
             progress: Progress = no_progress, pending_wait_s: float | None = None) -> RegisterResult:
    """registerWorker{value=getMinWorkerStake()} then addSupportedModel per missing model.

    Safe to re-run: after success it only adds missing models; after a crash between send and receipt it
    waits for the earlier transaction (pending nonce) and re-reads isWorkerRegistered, so it never stakes twice.
    """
    key = validate_encryption_key(encryption_pubkey)
    names = list(dict.fromkeys(models))
    if not names:
        raise ValidationError("choose at least one model to serve", field="models")
    c, reg, ai, me = ctx.client, ctx.client.registry, ctx.client.ai_config, ctx.address
    progress("checking the network", 0.05)
    c.ensure_chain()
    check_models_allowed(c, names)
    hashes: list[str] = []
    warning = ""
    registered_now = False
    with ctx.gate.session(progress):
        latest, pending = ctx.sender.pending_gap()
        if pending > latest:
            progress("waiting for an earlier transaction from this address to be mined", 0.1)
            ctx.sender.wait_no_pending(pending_wait_s)
        registered, stake, min_stake, onchain_key = c.read_many([
            (reg, "isWorkerRegistered", (me,)), (reg, "getWorkerStake", (me,)), (ai, "getMinWorkerStake", ()),
            (reg, "getWorkerEncryptionKey", (me,)),
        ])
        balance = c.balance(me)
        if registered:
            if bytes.fromhex(onchain_key[2:]) != key:
                raise PreconditionFailed(
                    "this address is registered with a different encryption key",
                    fix="restore the encryption key backup, or deregister and register again",
                )
            progress("already registered: not staking again", 0.4)
        else:
            fees = ctx.sender.fees()
            gas_cost = 200_000 * ctx.sender.max_fee_per_gas(fees)
            if balance <= min_stake + gas_cost:
                raise InsufficientFunds(
                    f"the worker holds {format_lcai(balance, None)} LCAI; registering stakes {format_lcai(min_stake, None)} LCAI plus gas",
                    fix=f"send at least {format_lcai(funding_threshold_wei(min_stake, c.network) - balance, None)} LCAI more "
                        "to the worker address",
                )
            if balance < funding_threshold_wei(min_stake, c.network):
                warning = "little LCAI left for gas after staking; top up the worker address soon"
            progress(f"staking {format_lcai(min_stake, None)} LCAI", 0.3)
            res = ctx.tx(reg, "registerWorker", key, value=min_stake, progress=progress)
            hashes.append(res.tx_hash)
            registered_now = True
            stake = min_stake
        failpoints.hit("register.before_models")
        served = c.read_many([(reg, "workerSupportsModel", (me, model_id_bytes(n))) for n in names])
        added: list[str] = []
        todo = [n for n, s in zip(names, served, strict=False) if not s]
        already = [n for n, s in zip(names, served, strict=False) if s]
        for i, n in enumerate(todo):
            progress(f"adding model {n}", 0.5 + 0.5 * i / max(1, len(todo)))
            res = ctx.tx(reg, "addSupportedModel", model_id_bytes(n), progress=progress)
            hashes.append(res.tx_hash)
            added.append(n)
    progress("registered", 1.0)
    return RegisterResult(address=me, registered_now=registered_now, stake_wei=int(stake), models_added=added,
                          models_already=already, tx_hashes=hashes, low_gas_warning=warning)
