"""User operations: validate the request up front, then hand the runner one function that does the work.

Every operation that sends from the worker key goes through the chain layer's one-writer gate (wait for the
worker to be idle, stop the container, send, restart); the progress messages tell the user about that pause.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tray_agent.common.errors import ValidationError
from tray_agent.common.ops import MONEY_OPS

from . import integration as ig
from .chain.ops import parse_lcai
from .networks import validate_network_name

if TYPE_CHECKING:
    from .agent import Agent

Progress = Callable[[str, "float | None"], None]


def _need_confirm(kind: str, body: dict) -> None:
    if kind in MONEY_OPS and body.get("confirm") is not True:
        raise ValidationError(f"{kind} moves funds or stake and needs confirmation",
                              fix='show the amount and fee to the user, then send "confirm": true', field="confirm")


def _bool(body: dict, key: str, default: bool = False) -> bool:
    v = body.get(key, default)
    if not isinstance(v, bool):
        raise ValidationError(f"{key} must be true or false", fix="send a JSON boolean", field=key)
    return v


def _str(body: dict, key: str) -> str:
    v = body.get(key)
    if not isinstance(v, str) or not v.strip():
        raise ValidationError(f"{key} is required", fix=f"send {key} as a string", field=key)
    return v.strip()


# operations that take no input beyond confirmation: kind -> integration function (agent, progress)
PLAIN_OPS = {
    "start": ig.op_start, "stop": ig.op_stop, "restart": ig.op_restart, "settle": ig.op_settle,
    "reinstate": ig.op_reinstate, "free_memory": ig.op_free_memory, "remove_worker": ig.op_remove_worker,
    "update_image": ig.op_update_image, "devnet_fund": ig.op_devnet_fund,
}
INPUT_OPS = {"withdraw", "deregister", "clear_stuck", "set_models", "speedtest", "recover", "top_up", "switch_network"}
KINDS = set(PLAIN_OPS) | INPUT_OPS


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValidationError(f"unknown operation {kind[:40]!r}", fix=f"use one of: {', '.join(sorted(KINDS))}", field="kind")


def build(agent: Agent, kind: str, body: dict[str, Any]) -> tuple[Callable[[Progress], Any], dict]:
    """Return (work function, parameters safe to store in history). Raises ValidationError on bad input."""
    if not isinstance(body, dict):
        raise ValidationError("body must be a JSON object")
    check_kind(kind)
    _need_confirm(kind, body)
    safe = {k: v for k, v in body.items() if k in ("to", "amount", "models", "allow_slash", "force", "id", "network")}

    if kind in PLAIN_OPS:
        fn = PLAIN_OPS[kind]
        return (lambda p: fn(agent, p)), safe
    if kind == "withdraw":
        to, amount, force = _str(body, "to"), _str(body, "amount"), _bool(body, "force")
        ig.withdraw_preview(agent, to, amount, force=force)  # validates now: bad input never queues an op
        return (lambda p: ig.op_withdraw(agent, to, amount, force, p)), safe
    if kind == "deregister":
        agent.require_key()
        return (lambda p: ig.op_deregister(agent, p)), safe
    if kind == "clear_stuck":
        allow = _bool(body, "allow_slash")
        return (lambda p: ig.op_clear_stuck(agent, allow, p)), safe
    if kind == "set_models":
        models = agent.validate_models(body.get("models"))
        return (lambda p: ig.op_set_models(agent, models, p)), safe
    if kind == "speedtest":
        models = body.get("models") or []
        models = agent.validate_models(models) if models else []
        return (lambda p: ig.op_speedtest(agent, models, p)), safe
    if kind == "recover":
        entry = _str(body, "id")
        if entry not in {k.id for k in agent.custody.list_archive(check_staked=False)}:
            raise ValidationError(f"no archived key {entry[:60]!r}", fix="pick one from the Recover list", field="id")
        return (lambda p: ig.op_recover(agent, entry, p)), safe
    if kind == "top_up":
        amount = _str(body, "amount")
        parse_lcai(amount)  # validate now
        return (lambda p: ig.op_top_up(agent, amount, p)), safe
    net = validate_network_name(_str(body, "network"))  # switch_network
    return (lambda p: ig.op_switch_network(agent, net, p)), safe
