"""Top up the stake and reinstate after a suspension."""

from __future__ import annotations

from dataclasses import dataclass

from tray_agent.common.amounts import format_lcai

from ... import failpoints
from ..errors import InsufficientFunds, PreconditionFailed
from ..revert import fmt_time
from .common import parse_lcai
from .context import OpContext, Progress, no_progress


@dataclass(frozen=True)
class StakeResult:
    tx_hash: str
    stake_wei: int
    min_stake_wei: int
    suspended: bool

    def to_dict(self) -> dict:
        return {"tx_hash": self.tx_hash, "stake_wei": str(self.stake_wei), "min_stake_wei": str(self.min_stake_wei),
                "suspended": self.suspended}


def _state(ctx: OpContext) -> tuple[bool, int, int, bool, int]:
    c, reg, me = ctx.client, ctx.client.registry, ctx.address
    registered, stake, min_stake, suspended, until = c.read_many([
        (reg, "isWorkerRegistered", (me,)), (reg, "getWorkerStake", (me,)), (c.ai_config, "getMinWorkerStake", ()),
        (reg, "isWorkerSuspended", (me,)), (reg, "getSuspendedUntil", (me,)),
    ])
    return bool(registered), int(stake), int(min_stake), bool(suspended), int(until)


@failpoints.scoped("top_up")
def top_up(ctx: OpContext, amount: str | int | None = None, *, progress: Progress = no_progress) -> StakeResult:
    """topUpStake{value}; ``amount`` in LCAI (string) or wei (int); default: the shortfall to the minimum.
    Does not lift a suspension."""
    ctx.client.ensure_chain()
    registered, stake, min_stake, suspended, _ = _state(ctx)
    if not registered:
        raise PreconditionFailed("this worker is not registered", fix="register first")
    if amount is None:
        value = min_stake - stake
        if value <= 0:
            raise PreconditionFailed("the stake is already at or above the minimum", fix="nothing to do")
    elif isinstance(amount, int) and not isinstance(amount, bool):
        if amount <= 0:
            raise PreconditionFailed("top-up amount must be positive", field="amount")
        value = amount
    else:
        value = parse_lcai(str(amount))
    from .withdraw import transfer_fee

    fee = 5 * transfer_fee(ctx.client)  # topUpStake costs a few plain transfers of gas at most
    balance = ctx.client.balance(ctx.address)
    if balance < value + fee:  # checked before the worker is paused for it
        raise InsufficientFunds(
            f"the worker wallet holds {format_lcai(balance, None)} LCAI, not enough to add {format_lcai(value, None)} "
            "LCAI to the stake and pay the fee",
            fix=f"send at least {format_lcai(value + fee - balance, None)} LCAI to "
                f"{ctx.address} first", field="amount")
    with ctx.gate.session(progress):
        progress(f"adding {format_lcai(value, None)} LCAI to the stake", 0.5)
        res = ctx.tx(ctx.client.registry, "topUpStake", value=value, progress=progress)
    _, stake, min_stake, suspended, _ = _state(ctx)
    progress("stake topped up", 1.0)
    return StakeResult(tx_hash=res.tx_hash, stake_wei=stake, min_stake_wei=min_stake, suspended=suspended)


@failpoints.scoped("reinstate")
def reinstate(ctx: OpContext, *, progress: Progress = no_progress) -> StakeResult:
    """reinstate() once the cooldown is over and the stake is at least the minimum."""
    c = ctx.client
    c.ensure_chain()
    registered, stake, min_stake, suspended, until = _state(ctx)
    if not suspended:
        raise PreconditionFailed("the worker is not suspended", fix="nothing to do")
    _, now = c.head()
    if now < until:
        raise PreconditionFailed(f"the worker is suspended until {fmt_time(until)}", fix="reinstate after that time",
                                 eta=until)
    if stake < min_stake:
        raise PreconditionFailed(
            f"the stake ({format_lcai(stake, None)} LCAI) is below the minimum ({format_lcai(min_stake, None)} LCAI)",
            fix=f"top up {format_lcai(min_stake - stake, None)} LCAI first",
        )
    with ctx.gate.session(progress):
        progress("reinstating", 0.5)
        res = ctx.tx(c.registry, "reinstate", progress=progress)
    _, stake, min_stake, suspended, _ = _state(ctx)
    progress("reinstated", 1.0)
    return StakeResult(tx_hash=res.tx_hash, stake_wei=stake, min_stake_wei=min_stake, suspended=suspended)
