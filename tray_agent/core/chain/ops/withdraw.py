"""Send native LCAI from the worker address to any wallet (plain transfer through the WriterGate)."""

from __future__ import annotations

from dataclasses import dataclass

from tray_agent.common.amounts import format_lcai
from tray_agent.common.errors import ValidationError

from ... import failpoints
from ..client import ChainClient
from ..errors import InsufficientFunds
from ..tx import TxResult, TxSender, fee_fields
from .common import parse_lcai, validate_destination
from .context import OpContext, Progress, announce, no_progress

TRANSFER_GAS = 21_000


@dataclass(frozen=True)
class WithdrawResult:
    to: str
    amount_wei: int
    fee_wei: int
    tx_hash: str
    remaining_wei: int

    def to_dict(self) -> dict:
        return {"to": self.to, "amount_wei": str(self.amount_wei), "fee_wei": str(self.fee_wei),
                "tx_hash": self.tx_hash, "remaining_wei": str(self.remaining_wei)}


def transfer_fee(client: ChainClient) -> int:
    """Upper bound of a plain transfer's fee at current prices (what the send will be signed with)."""
    return TRANSFER_GAS * TxSender.max_fee_per_gas(fee_fields(client))


def plan_amount(amount: str, balance: int, fee: int, reserve: int) -> int:
    """Wei to send for ``amount`` (decimal LCAI or "max"), checked against balance, fee and gas reserve.

    One rule for the dashboard preview and the send itself."""
    if isinstance(amount, str) and amount.strip().lower() == "max":
        value = balance - fee - reserve
        if value <= 0:
            raise InsufficientFunds(
                f"nothing to send: balance {format_lcai(balance, None)} LCAI, fee {format_lcai(fee, None)} LCAI"
                + (f", gas reserve {format_lcai(reserve, None)} LCAI kept while registered" if reserve else ""),
                fix="the worker needs this LCAI for gas" if reserve else "fund the worker address", field="amount",
            )
        return value
    value = parse_lcai(amount)
    if value + fee > balance:
        raise InsufficientFunds(f"the worker holds {format_lcai(balance, None)} LCAI, less than {format_lcai(value, None)} + fee",
                                fix="enter a smaller amount or \"max\"", field="amount")
    if reserve and balance - value - fee < reserve:
        raise ValidationError(
            f"this would leave less than {format_lcai(reserve, None)} LCAI for gas while the worker is registered",
            fix=f"send at most {format_lcai(max(0, balance - fee - reserve), None)} LCAI: the rest stays as the gas reserve while the worker is registered (Deregister first to withdraw everything)", field="amount",
        )
    return value


@failpoints.scoped("withdraw")
def withdraw_native(ctx: OpContext, to: str, amount: str, *, force: bool = False,
                    progress: Progress = no_progress) -> WithdrawResult:
    """``amount`` is a decimal LCAI string or "max" (balance minus fee, minus the gas reserve while registered).

    While the worker is registered, refuses to leave less than the network's gas reserve (``low_gas_wei``)
    unless ``force``."""
    dest = validate_destination(to, own=ctx.address)
    if not (isinstance(amount, str) and amount.strip().lower() == "max"):
        parse_lcai(amount)  # bad input fails before the worker is paused
    c = ctx.client
    c.ensure_chain()
    with ctx.gate.session(progress):
        balance = c.balance(ctx.address)
        registered = bool(c.call(c.registry, "isWorkerRegistered", ctx.address))
        fee = transfer_fee(c)
        reserve = int(c.network.low_gas_wei) if registered and not force else 0
        value = plan_amount(amount, balance, fee, reserve)
        progress(f"sending {format_lcai(value, None)} LCAI to {dest}", 0.5)
        res = ctx.gate.send(lambda: ctx.sender.send(dest, "0x", value, gas=TRANSFER_GAS,
                                                    on_signed=announce("transfer", progress)), progress)
        assert isinstance(res, TxResult)
        remaining = c.balance(ctx.address)
    progress("sent", 1.0)
    return WithdrawResult(to=dest, amount_wei=value, fee_wei=res.fee_wei, tx_hash=res.tx_hash, remaining_wei=remaining)
