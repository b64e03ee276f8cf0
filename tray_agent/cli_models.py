"""`lcai-tray models list|set|suggest`: the catalogue with expected earnings, a live model change, and the
suggested model set (applied, after a confirmation with old vs new expected earnings, as the normal set_models
operation)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from tray_agent.common.amounts import format_lcai

from .cli_codes import EXIT_INPUT, EXIT_OK


def add_parser(sub: Any, parser_class: type, agent_call: Callable, op: Callable, confirm: Callable) -> None:
    m = sub.add_parser("models", help="list, change or get a suggestion for the served models")
    msub = m.add_subparsers(dest="models_cmd", metavar="list|set|suggest", required=True, parser_class=parser_class)
    ml = msub.add_parser("list", help="the network's models: fee, memory, expected LCAI/day for this worker")
    ml.add_argument("--window", type=float, default=None, metavar="HOURS", help="demand window (default 24 h)")
    ml.set_defaults(func=agent_call(_list))
    ms = msub.add_parser("set", help="serve exactly these models (pull → on-chain add/remove → restart)")
    ms.add_argument("names", nargs="+", help="exact model names, e.g. llama3-8b")
    ms.set_defaults(func=agent_call(lambda c, a: op(c, "set_models", {"models": a.names})))
    sg = msub.add_parser("suggest", help="the model set with the highest expected LCAI/day that fits this machine")
    sg.add_argument("--window", type=float, default=None, metavar="HOURS", help="demand window (default 24 h)")
    sg.add_argument("--apply", action="store_true", help="change to the suggested set (asks first)")
    sg.add_argument("--yes", action="store_true", help="confirm without asking (with --apply)")
    sg.set_defaults(func=agent_call(lambda c, a: _suggest(c, a, op, confirm)))


def _q(window: float | None) -> str:
    return "" if window is None else f"?window_h={window:g}"


def _list(client: Any, args: argparse.Namespace) -> int:
    from .cli_format import fmt_models

    models = client.get("/api/models")
    try:
        demand = client.get("/api/models/demand" + _q(args.window))
    except Exception as e:  # the catalogue still lists without the chain's demand
        demand = {"error": getattr(e, "message", str(e))}
    print(fmt_models(models, demand))
    return EXIT_OK


def fmt_suggestion(s: dict) -> str:
    lines = [f"Suggested ({s['window']} of demand): {', '.join(s['models']) or 'nothing — no model had demand'}",
             f"  expected {s['lcai_per_day']} LCAI/day (now {', '.join(s['current']) or 'none'}: "
             f"{s['current_lcai_per_day']} LCAI/day); memory {s['required_bytes'] / 2**30:.1f} of "
             f"{s['usable_bytes'] / 2**30:.1f} GiB usable"]
    for x in s.get("left_out", []):
        lines.append(f"  left out {x['model']}: {x['reason']}")
    lines.append(f"  estimate: {s['formula']}")
    lines += [f"  assumes: {a}" for a in s.get("assumptions", [])]
    return "\n".join(lines)


def _suggest(client: Any, args: argparse.Namespace, op: Callable, confirm: Callable) -> int:
    s = client.get("/api/models/suggest" + _q(args.window))
    print(fmt_suggestion(s))
    if not args.apply:
        return EXIT_OK
    if not s["models"]:
        print("nothing to apply: no model had demand in the window")
        return EXIT_INPUT
    if not s.get("changes"):
        print("already serving the suggested set")
        return EXIT_OK
    print(f"Change {', '.join(s['current']) or 'none'} ({s['current_lcai_per_day']} LCAI/day expected) → "
          f"{', '.join(s['models'])} ({s['lcai_per_day']} LCAI/day expected)?")
    refused = confirm(args, "changing the served models restarts the worker", "Apply?")
    if refused is not None:
        return refused
    return op(client, "set_models", {"models": s["models"]})


def estimate_cell(row: dict | None) -> str:
    if row is None:
        return "?"
    return format_lcai(int(row["wei_per_day"])) if row["jobs"] else "no demand"
