"""The automatic settle / withdraw policy (off by default): its fields, their validation and the pure decision.

One JSON file per network (``networks/<name>/autosettle.json``) holds the policy the user chose and the state the
agent keeps for it (last settle, failures and the backoff, a settle the agent was stopped in, settled earnings not
yet forwarded). ``decide`` is pure: the service asks it what to do on each refresh, then checks what needs the
chain and the worker (idle, fee) before it hands the runner an operation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tray_agent.common.amounts import format_lcai
from tray_agent.common.errors import ValidationError
from tray_agent.common.words import plural

DAY_S = 86400
BACKOFF_BASE_S = 60.0
BACKOFF_MAX_S = 6 * 3600.0
DEFAULTS: dict[str, Any] = {
    # the policy (the user's choices)
    "enabled": False,
    "threshold_wei": "0",          # settle when releasable + contract balance reaches this ("0" = no threshold)
    "every_days": 0,               # or every N days (0 = no schedule)
    "max_fee_bps": 500,            # skip when the fee is above this share of the amount (500 = 5 %)
    "withdraw": False,             # forward settled earnings to withdraw_to
    "withdraw_to": "",             # set only by a confirmation (checksummed)
    "withdraw_to_confirmed_at": 0.0,
    "paused": False,
    "enabled_at": 0.0,
    # the agent's state for it
    "last_settle_at": 0.0,
    "failures": 0,
    "next_try_at": 0.0,
    "last_error": "",
    "last_skip": "",
    "resume_settle": False,        # an automatic settle was interrupted: finish it first
    "forward_wei": "0",            # settled by the policy, not yet forwarded to withdraw_to
    "held": "",                    # an interrupted automatic withdrawal needs the user: why
    "running": None,               # {"kind", "op_id", ...} while an automatic operation runs (write-ahead)
    "last_action": None,           # {"kind", "at", "ok", "text"}
}
POLICY_KEYS = ("enabled", "threshold_wei", "every_days", "max_fee_bps", "withdraw", "paused")


def _bool(v: Any, key: str) -> bool:
    if not isinstance(v, bool):
        raise ValidationError(f"{key} must be true or false", fix="send a JSON boolean", field=key)
    return v


def validate_changes(changes: Any, current: dict[str, Any]) -> dict[str, Any]:
    """Policy changes → stored fields. Every field is checked; nothing is stored unless all pass."""
    from .chain.ops import parse_lcai

    if not isinstance(changes, dict):
        raise ValidationError("the policy must be a JSON object", fix='e.g. {"enabled": true, "threshold_lcai": "10"}')
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key in ("enabled", "withdraw", "paused"):
            out[key] = _bool(value, key)
        elif key == "threshold_lcai":
            text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
            if text is None:
                raise ValidationError("threshold_lcai must be a decimal LCAI amount", fix='e.g. "10" or "0.5"',
                                      field=key)
            out["threshold_wei"] = "0" if text in ("", "0") else str(parse_lcai(text, field=key))
        elif key == "every_days":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 365:
                raise ValidationError("every_days must be a whole number of days from 0 to 365 (0 = no schedule)",
                                      fix="e.g. 7", field=key)
            out[key] = value
        elif key == "max_fee_bps":
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10000:
                raise ValidationError("max_fee_bps must be from 1 to 10000 (hundredths of a percent of the amount)",
                                      fix="e.g. 500 for 5 %", field=key)
            out[key] = value
        elif key in ("withdraw_to", "address"):
            raise ValidationError("the withdraw address changes only through its own confirmation",
                                  fix="confirm it with POST /api/autosettle/address (Settings → Confirm address…, "
                                      "or 'lcai-tray autosettle address 0x…')", field="withdraw_to")
        else:
            raise ValidationError(f"unknown policy field {str(key)[:40]!r}",
                                  fix="use enabled, threshold_lcai, every_days, max_fee_bps, withdraw, paused",
                                  field=str(key)[:40])
    merged = {**current, **out}
    if merged.get("enabled") and int(merged.get("threshold_wei") or 0) == 0 and not merged.get("every_days"):
        raise ValidationError("automatic settle needs a threshold or a number of days",
                              fix="set threshold_lcai (e.g. \"10\") or every_days (e.g. 7)", field="threshold_lcai")
    if merged.get("withdraw") and not merged.get("withdraw_to"):
        raise ValidationError("automatic withdraw needs a confirmed address first",
                              fix="confirm the address your earnings go to, then turn withdraw on", field="withdraw")
    if out.get("enabled") and not current.get("enabled"):
        out["enabled_at"] = time.time()  # "every N days" counts from here until the first settle
    return out


@dataclass(frozen=True)
class Inputs:
    """What the agent knows now (from the Status and the session)."""

    registered: bool
    releasable_wei: int
    worker_balance_wei: int
    busy_op: str = ""          # the running operation, if any
    exit_pending: bool = False  # a deregistration is scheduled or running
    now: float = 0.0


@dataclass(frozen=True)
class Decision:
    action: str    # "" | "settle" | "withdraw"
    state: str     # off | paused | held | waiting | retrying | armed | due | running | skipped
    message: str


def amount_wei(inp: Inputs) -> int:
    """What a settle would move: releasable jobs plus what is already released into the contract balance."""
    return inp.releasable_wei + inp.worker_balance_wei


def fee_ok(fee_wei: int, amount: int, max_fee_bps: int) -> bool:
    """Integer rule: fee / amount ≤ max_fee_bps / 10000."""
    return amount > 0 and fee_wei * 10000 <= amount * max_fee_bps


def backoff_s(failures: int) -> float:
    """Seconds to wait after ``failures`` failures in a row: 1, 2, 4 … min, at most 6 h."""
    return 0.0 if failures <= 0 else min(BACKOFF_BASE_S * 2 ** (failures - 1), BACKOFF_MAX_S)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def decide(p: dict[str, Any], inp: Inputs) -> Decision:
    """What the policy wants now (pure). Idle and fee checks follow in the service for a settle."""
    now = inp.now or time.time()
    if not p.get("enabled"):
        return Decision("", "off", "Automatic settle is off")
    if p.get("paused"):
        return Decision("", "paused", "Paused: resume it from the tray menu or Settings")
    if p.get("held"):
        return Decision("", "held", p["held"])
    if inp.exit_pending:
        return Decision("", "waiting", "Waiting: a deregistration is scheduled or running")
    if not inp.registered:
        return Decision("", "waiting", "Waiting: the worker is not registered")
    if inp.busy_op:
        return Decision("", "waiting", f"Waiting for the running operation ({inp.busy_op.replace('_', ' ')})")
    if float(p.get("next_try_at") or 0) > now:
        return Decision("", "retrying", f"Failed {p.get('failures', 0)}× ({p.get('last_error') or 'unknown error'}); "
                                        f"next try {_when(float(p['next_try_at']))}")
    if p.get("resume_settle"):
        return Decision("settle", "due", "Finishing the automatic settle the agent was stopped in")
    if p.get("withdraw") and p.get("withdraw_to") and int(p.get("forward_wei") or 0) > 0:
        return Decision("withdraw", "due", f"Forwarding {format_lcai(int(p['forward_wei']), 6)} LCAI of settled "
                                           f"earnings to {p['withdraw_to']}")
    amount = amount_wei(inp)
    threshold = int(p.get("threshold_wei") or 0)
    if threshold and amount >= threshold:
        return Decision("settle", "due", f"{format_lcai(amount, 6)} LCAI reached the threshold of "
                                         f"{format_lcai(threshold, 6)} LCAI")
    days = int(p.get("every_days") or 0)
    since = float(p.get("last_settle_at") or 0) or float(p.get("enabled_at") or 0) or now
    if days and amount > 0 and now - since >= days * DAY_S:
        return Decision("settle", "due", f"{plural(days, 'day')} since the last settle")
    parts = []
    if threshold:
        parts.append(f"at {format_lcai(threshold, 6)} LCAI (now {format_lcai(amount, 6)})")
    if days:
        parts.append(f"on {_when(since + days * DAY_S)}")
    return Decision("", "armed", "Next settle " + " or ".join(parts))
