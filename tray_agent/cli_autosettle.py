"""`lcai-tray autosettle show|set|on|off|pause|resume|address`: the automatic settle / withdraw policy."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from tray_agent.common.amounts import format_lcai
from tray_agent.common.errors import ValidationError
from tray_agent.common.words import plural

from .cli_codes import EXIT_OK


def add_parser(sub: Any, parser_class: type, agent_call: Callable) -> None:
    a = sub.add_parser("autosettle", help="automatic settle (and withdraw) of earnings: off by default")
    asub = a.add_subparsers(dest="autosettle_cmd", metavar="show|set|on|off|pause|resume|address", required=True,
                            parser_class=parser_class)
    asub.add_parser("show", help="the policy and what it does now").set_defaults(func=agent_call(_show))
    for name, help_ in (("set", "change the policy (it stays on or off)"), ("on", "turn it on (with these values)")):
        p = asub.add_parser(name, help=help_)
        p.add_argument("--threshold", metavar="LCAI", help="settle when earnings reach this many LCAI (0 = none)")
        p.add_argument("--every-days", type=int, metavar="N", help="or every N days (0 = no schedule)")
        p.add_argument("--max-fee-pct", metavar="PCT", help="skip when the fee is above this %% of the amount")
        p.add_argument("--withdraw", choices=("on", "off"), help="forward settled earnings to the confirmed address")
        p.set_defaults(func=agent_call(lambda c, args, on=name == "on": _set(c, args, on)))
    for name, body in (("off", {"enabled": False}), ("pause", {"paused": True}), ("resume", {"paused": False})):
        asub.add_parser(name).set_defaults(func=agent_call(lambda c, args, b=body: _post(c, b)))
    ad = asub.add_parser("address", help="confirm the one address automatic withdrawals go to")
    ad.add_argument("address", help="0x… (checksummed or all one case)")
    ad.add_argument("--yes", action="store_true", help="confirm without asking (scripts)")
    ad.set_defaults(func=agent_call(_address))


def fee_bps(pct: str) -> int:
    """"2.5" (percent) → 250 (basis points), exactly."""
    text = pct.strip() if isinstance(pct, str) else ""
    try:
        bps = Decimal(text) * 100 if re.fullmatch(r"\d{1,3}(\.\d{1,2})?", text) else Decimal("NaN")
    except InvalidOperation:
        bps = Decimal("NaN")
    if not bps.is_finite() or not 1 <= bps <= 10000:
        raise ValidationError(f"--max-fee-pct {pct!r} must be a percentage from 0.01 to 100 (two decimals at most)",
                              fix="e.g. --max-fee-pct 5", field="max_fee_bps")
    return int(bps)


def _set(client: Any, args: argparse.Namespace, on: bool) -> int:
    body: dict[str, Any] = {"enabled": True} if on else {}
    if args.threshold is not None:
        body["threshold_lcai"] = args.threshold
    if args.every_days is not None:
        body["every_days"] = args.every_days
    if args.max_fee_pct is not None:
        body["max_fee_bps"] = fee_bps(args.max_fee_pct)
    if args.withdraw is not None:
        body["withdraw"] = args.withdraw == "on"
    if on:
        body["paused"] = False
    return _post(client, body)


def _post(client: Any, body: dict) -> int:
    path = "/api/autosettle/pause" if set(body) == {"paused"} else "/api/autosettle"
    print(fmt(client.post(path, body)))
    return EXIT_OK


def _show(client: Any, args: argparse.Namespace) -> int:
    print(fmt(client.get("/api/autosettle")))
    return EXIT_OK


def _address(client: Any, args: argparse.Namespace) -> int:
    preview = client.post("/api/autosettle/address", {"address": args.address})
    print(preview["text"])
    print(f"  address: {preview['address']}")
    if preview.get("current") and preview["current"] != preview["address"]:
        print(f"  replaces: {preview['current']}")
    if not args.yes:
        if not sys.stdin.isatty():
            raise ValidationError("confirming the address needs a terminal to ask, or --yes",
                                  fix="run it in a terminal, or add --yes after checking the address", field="address")
        if input("Send automatic withdrawals to this address? [y/N] ").strip().lower() not in ("y", "yes"):
            print("not changed")
            return EXIT_OK
    print(fmt(client.post("/api/autosettle/address", {"address": preview["address"], "confirm": True})))
    return EXIT_OK


def fmt(v: dict) -> str:
    """The policy in a few lines."""
    when = lambda t: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(t))) if t else "never"  # noqa: E731
    thr = int(v.get("threshold_wei") or 0)
    lines = [f"automatic settle on {v.get('network')}: {'on' if v.get('enabled') else 'off'}"
             + (" (paused)" if v.get("paused") else ""),
             f"  now:        {v.get('state')} — {v.get('message')}",
             f"  threshold:  {format_lcai(thr, None) + ' LCAI' if thr else 'none'}",
             f"  every:      {plural(int(v['every_days']), 'day') if v.get('every_days') else 'no schedule'}",
             f"  max fee:    {int(v.get('max_fee_bps') or 0) / 100:g} % of the amount",
             f"  withdraw:   {'on → ' + v['withdraw_to'] if v.get('withdraw') else 'off'}"
             + (f" (confirmed address: {v['withdraw_to']})" if not v.get("withdraw") and v.get("withdraw_to") else ""),
             f"  last settle: {when(v.get('last_settle_at'))}"]
    if v.get("last_error"):
        lines.append(f"  last error: {v['last_error']} (failures in a row: {v.get('failures')}, next try "
                     f"{when(v.get('next_try_at'))})")
    if v.get("held"):
        lines.append(f"  held:       {v['held']}")
    return "\n".join(lines)
