"""Unattended onboarding (``lcai-tray setup --no-input``): the terminal setup's steps taken from flags, for
Ansible and other automation. It stops at funding and says so; run it again once the wallet is funded and it
continues (funding wait, image, models, register, container). Every run reports what it changed, so a run that
finds everything in place reports ``changed: false`` (idempotent)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .common.api_client import ApiClient
from .common.errors import AgentError

FUNDING_KEYS = ("address", "funded", "balance_wei", "threshold_wei", "missing_wei", "missing_lcai",
                "threshold_lcai", "eip681", "faucet_url")


def _funding(ob: dict) -> dict:
    f = ob.get("funding") or {}
    out = {k: f.get(k) for k in FUNDING_KEYS if k in f}
    if f.get("chain"):
        out["chain_id"] = f["chain"].get("chain_id")
    return out


def _follow(client: ApiClient, op_id: str, timeout_s: float, quiet: bool) -> dict:
    """Follow an onboarding operation; progress lines go to stderr so stdout stays one JSON object."""
    seen, deadline, rec = 0, time.monotonic() + timeout_s, {}
    while True:
        rec = client.get(f"/api/ops/{op_id}")
        for item in rec.get("progress", []):
            if item.get("i", 0) >= seen:
                if not quiet:
                    print(f"  {item['message']}", file=sys.stderr)
                seen = item.get("i", 0) + 1
        if rec["state"] not in ("queued", "running") or time.monotonic() > deadline:
            return rec
        time.sleep(0.5)


def run_unattended(client: ApiClient, *, network: str | None, models: list[str], wait_funding_s: float = 0.0,
                   continue_timeout_s: float = 900.0, quiet: bool = False) -> tuple[int, dict[str, Any]]:
    """Take every onboarding step that needs no human; returns (exit code, report).

    Report keys: ``step`` (where onboarding stands), ``changed``, ``address``, ``funding`` (address, funded,
    missing/threshold wei, EIP-681 link), ``network``, ``models``, and ``error`` {message, fix} on failure.
    """
    changed: list[str] = []
    ob = client.get("/api/onboarding")
    if not ob["done"]:
        if not models and not ob.get("models"):  # checked before anything changes
            return 2, _report(ob, changed, error=("no models chosen for this worker",
                                                  "pass --models NAME[,NAME…] (see 'lcai-tray models list')"))
        if not ob.get("network_confirmed") or (network and network != ob["network"]):
            ob = client.post("/api/onboarding/network", {"network": network or ob["network"]})
            changed.append("network")
        if models and sorted(models) != sorted(ob.get("models") or []):
            if ob.get("address") and ob.get("step") not in ("models", "password", "funding"):
                return 2, _report(ob, changed, error=("onboarding is past the models step",
                                                      "change the served models with 'lcai-tray models set'"))
            ob = client.post("/api/onboarding/models", {"models": models})
            changed.append("models")
        if not ob.get("address"):
            client.post("/api/onboarding/password", {"generate": True})
            changed.append("key")
            ob = client.get("/api/onboarding")
    deadline = time.monotonic() + max(0.0, wait_funding_s)
    while not ob["done"] and not (ob.get("funding") or {}).get("funded") and not ob.get("op_id") \
            and time.monotonic() < deadline:
        time.sleep(1.0)
        ob = client.get("/api/onboarding")
    if ob["done"] or (not (ob.get("funding") or {}).get("funded") and not ob.get("op_id")):
        return 0, _report(ob, changed)
    op_id = ob.get("op_id") or client.post("/api/onboarding/continue")["op_id"]
    changed.append("continued")
    rec = _follow(client, op_id, continue_timeout_s, quiet)
    ob = client.get("/api/onboarding")
    report = _report(ob, changed, progress=[p["message"] for p in rec.get("progress", [])][-20:])
    if rec["state"] == "done":
        return 0, report
    if rec["state"] in ("queued", "running"):
        report["error"] = {"message": "onboarding is still running", "fix": "run setup again to follow it"}
        return 1, report
    err = rec.get("error") or {}
    report["error"] = {"message": err.get("message", "onboarding failed"), "fix": err.get("fix", "")}
    return 1, report


def _report(ob: dict, changed: list[str], error: tuple[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"step": ob.get("step"), "done": bool(ob.get("done")), "changed": bool(changed),
                           "changes": changed, "network": ob.get("network"), "models": ob.get("models") or [],
                           "address": ob.get("address"), "funding": _funding(ob), **extra}
    if error:
        out["error"] = {"message": error[0], "fix": error[1]}
    return out


def print_report(code: int, report: dict, as_json: bool) -> int:
    """One JSON object on stdout (``--json``), or a few readable lines."""
    if as_json:
        print(json.dumps(report, indent=1))
        return code
    f = report.get("funding") or {}
    if report.get("error"):
        print(f"error: {report['error']['message']}", file=sys.stderr)
        if report["error"].get("fix"):
            print(f"fix:   {report['error']['fix']}", file=sys.stderr)
    elif report.get("done"):
        print(f"setup is done on {report['network']}: worker {report['address']}")
    elif report.get("step") == "funding":
        print(f"waiting for funds: send {f.get('missing_lcai')} LCAI to {report['address']}\n"
              f"  payment link: {f.get('eip681')}\nthen run this command again")
    else:
        print(f"onboarding is at step {report.get('step')}")
    return code


def parse_models(value: str | None) -> list[str]:
    return [m.strip() for m in (value or "").split(",") if m.strip()]


def add_arguments(su: argparse.ArgumentParser) -> None:
    """The ``setup`` flags for unattended runs."""
    su.add_argument("--no-input", action="store_true",
                    help="never ask: take the answers from the flags, generate the key's password, stop at funding "
                         "(run again once funded to continue); for Ansible and scripts")
    su.add_argument("--models", help="with --no-input: the models to serve, comma separated (e.g. llama3-8b)")
    su.add_argument("--wait-funding", type=float, default=0.0, metavar="SECONDS",
                    help="with --no-input: wait this long for the wallet's balance before stopping at funding")
    su.add_argument("--json", action="store_true", help="with --no-input: print one JSON report")


def handler(client: ApiClient, args: argparse.Namespace) -> int:
    """Run it and print the report; an error answer of the agent (e.g. an unknown model) is reported the same way."""
    try:
        code, report = run_unattended(client, network=args.network, models=parse_models(args.models),
                                      wait_funding_s=args.wait_funding, quiet=args.json)
    except AgentError as e:
        bad_input = e.code in ("invalid_input", "config_invalid") or getattr(e, "status", 0) in (400, 422)
        code, report = (2 if bad_input else 1), {"changed": False, "error": {"message": e.message, "fix": e.fix}}
    return print_report(code, report, args.json)
