"""`lcai-tray preflight [--json]`: what blocks or weakens this worker, one line per check, over the local API.

Exit codes: 0 all good, 1 any BLOCK, 5 only WARN (besides the CLI's 3 = no agent)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from .cli_codes import EXIT_FAILED as EXIT_BLOCK
from .cli_codes import EXIT_OK, EXIT_WARN
from .common.words import plural

_MARK = {"ok": "OK   ", "warn": "WARN ", "block": "BLOCK"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("preflight", help="check what blocks or weakens the worker (exit 0 ok, 1 block, 5 warn)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def exit_code(report: dict) -> int:
    return {"ok": EXIT_OK, "warn": EXIT_WARN}.get(report.get("result", "block"), EXIT_BLOCK)


def format_report(report: dict) -> str:
    lines = [f"preflight on {report.get('network', '?')}:"]
    for c in report.get("checks", []):
        lines.append(f"  [{_MARK.get(c['result'], c['result'].upper())}] {c['title']}: {c['detail']}")
        if c["result"] != "ok" and c.get("fix"):
            lines.append(f"          fix: {c['fix']}")
    n = report.get("counts", {})
    lines.append(f"{n.get('ok', 0)} ok, {plural(n.get('warn', 0), 'warning')}, {n.get('block', 0)} blocking")
    return "\n".join(lines)


def handler(client: Any, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """GET /api/preflight and print it; returns the exit code."""
    out = out or sys.stdout
    report = client.request("GET", "/api/preflight", timeout=120)
    print(json.dumps(report, indent=1) if args.json else format_report(report), file=out)
    return exit_code(report)
