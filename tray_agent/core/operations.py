"""User operations: validate the request up front, then hand the runner one function that does the work.

Every operation that sends from the worker key goes through the chain layer's one-writer gate (wait for the
worker to be idle, stop the container, send, restart); the progress messages tell the user about that pause.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tray_agent.common.errors import AgentError, ValidationError
from tray_agent.common.ops import MONEY_OPS
from tray_agent.common.redact import register_secret

from . import foreign_ops, keys_ops, model_ops
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


def _password(body: dict) -> str:
    """The keystore password of a worker being imported; scrubbed from every log line and error text."""
    pw = body.get("password")
    if not isinstance(pw, str) or not pw:
        raise ValidationError("the keystore password is required", fix="type the worker's keystore password "
                              "(WORKER_KEYSTORE_PASSWORD in its env file)", field="password")
    register_secret(pw)
    return pw


def _wei(body: dict, key: str) -> int:
    """A non-negative integer amount in wei, sent as a decimal string (never a float: money is exact)."""
    v = body.get(key)
    if not isinstance(v, str) or not v.strip().isdigit() or not v.strip().isascii():
        raise ValidationError(f"{key} must be an amount in wei, as a string of digits (for example \"0\")",
                              fix=f"send {key} as the exact integer shown by GET /api/stuck (slash_wei_total)", field=key)
    return int(v.strip())


def _plain(agent: Agent) -> dict[str, Callable[[Progress], Any]]:
    """Operations that take no input beyond confirmation: kind -> work function."""
    s = agent.session
    w = s.worker
    return {
        "start": w.op_start, "stop": w.op_stop, "restart": w.op_restart, "settle": s.money.settle,
        "reinstate": s.money.reinstate, "free_memory": w.op_free_memory, "update_image": w.op_update_image,
        "remove_worker": lambda p: keys_ops.remove_worker(w, s.custody, agent.owner, p),
        "replace_key": lambda p: keys_ops.replace_key(w, s.custody, agent.owner, s.sync, p),
        "devnet_fund": lambda p: _devnet_fund(agent, p),
        "stop_foreign": lambda p: foreign_ops.stop_foreign(w, agent.owner, p),
        "stop_now": w.op_stop_now, "cancel_deregister": s.exit.cancel,
    }


PLAIN_KINDS = {"start", "stop", "restart", "settle", "reinstate", "free_memory", "update_image", "remove_worker",
               "replace_key", "devnet_fund", "stop_foreign", "stop_now", "cancel_deregister"}
INPUT_OPS = {"withdraw", "deregister", "clear_stuck", "set_models", "speedtest", "recover", "top_up", "switch_network",
             "import_keys", "adopt_foreign"}
KINDS = PLAIN_KINDS | INPUT_OPS


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValidationError(f"unknown operation {kind[:40]!r}", fix=f"use one of: {', '.join(sorted(KINDS))}", field="kind")


def _devnet_fund(agent: Agent, progress):
    view = agent.funding_view()
    return agent.session.money.devnet_fund(agent.devnet, int(view["missing_wei"]), view["missing_lcai"], progress)


def build(agent: Agent, kind: str, body: dict[str, Any]) -> tuple[Callable[[Progress], Any], dict]:
    """Return (work function, parameters safe to store in history). Raises ValidationError on bad input."""
    if not isinstance(body, dict):
        raise ValidationError("body must be a JSON object")
    check_kind(kind)
    _need_confirm(kind, body)
    safe = {k: v for k, v in body.items()
            if k in ("to", "amount", "models", "allow_slash", "max_slash_wei", "force", "id", "network", "path", "replace_active",
                                              "name")}
    s = agent.session
    if s.money is None:
        raise AgentError("the agent is still starting", fix="try again in a few seconds", code="starting")
    if kind in PLAIN_KINDS:
        return _plain(agent)[kind], safe
    if kind == "withdraw":
        to, amount, force = _str(body, "to"), _str(body, "amount"), _bool(body, "force")
        s.money.withdraw_preview(to, amount, force=force)  # validates now: bad input never queues an op
        return (lambda p: s.money.withdraw(to, amount, force, p)), safe
    if kind == "deregister":
        agent.require_key()
        exit_flow = s.exit
        return exit_flow.begin, safe
    if kind == "clear_stuck":
        allow = _bool(body, "allow_slash")
        cap = _wei(body, "max_slash_wei") if allow else 0  # a slash is never accepted without its exact amount
        return (lambda p: s.money.clear_stuck(allow, cap, p)), safe
    if kind == "set_models":
        models = agent.validate_models(body.get("models"))
        return (lambda p: model_ops.set_models(s.models, s.money, s.worker, models, agent.wait_online,
                                                agent.online_wait_s, p)), safe
    if kind == "speedtest":
        models = body.get("models") or []
        models = agent.validate_models(models) if models else []
        return (lambda p: s.models.speedtest(models, p)), safe
    if kind == "recover":
        entry = _str(body, "id")
        if entry not in {k.id for k in agent.custody.list_archive(check_staked=False)}:
            raise ValidationError(f"no archived key {entry[:60]!r}", fix="pick one from the Recover list", field="id")
        return (lambda p: keys_ops.recover(s.worker, s.custody, agent.owner, s.sync, entry, p)), safe
    if kind == "import_keys":
        path, pw, repl = _str(body, "path"), _password(body), _bool(body, "replace_active")
        return (lambda p: keys_ops.import_toolkit(s.worker, s.custody, agent.owner, s.sync, path, pw, repl, p)), safe
    if kind == "adopt_foreign":
        pw, repl = _password(body), _bool(body, "replace_active")
        name = body.get("name") or ""
        if not isinstance(name, str) or len(name) > 128:
            raise ValidationError("name must be the container name", fix="send the name shown in the notice", field="name")
        return (lambda p: foreign_ops.adopt_foreign(s.worker, s.custody, agent.owner, s.sync, pw, name.strip(), repl,
                                                    p)), safe
    if kind == "top_up":
        amount = _str(body, "amount")
        parse_lcai(amount)  # validate now
        return (lambda p: s.money.top_up(amount, p)), safe
    net = validate_network_name(_str(body, "network"))  # switch_network
    return (lambda p: _switch(agent, net, p)), safe


def _switch(agent: Agent, network: str, progress) -> dict:
    progress(f"switching to {network}", None)
    agent.switch_network(network, progress)
    return {"network": network}
