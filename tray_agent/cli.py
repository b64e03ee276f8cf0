"""lcai-tray: the tray app, the headless agent, and every action as a subcommand.

Exit codes: 0 ok · 1 the operation failed · 2 bad input or usage · 3 no agent reachable · 4 busy · 130 interrupted.
When an agent runs for the profile, commands are sent to it; otherwise one is started in the background.
Each subcommand names its handler with ``set_defaults(func=…)``; network names come from networks.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import (
    __version__,
    cli_autosettle,
    cli_fleet,
    cli_keys,
    cli_local,
    cli_models,
    cli_preflight,
    cli_setup_auto,
    cli_worker,
)
from .api.metrics_options import add_arguments as add_metrics_arguments
from .cli_codes import EXIT_BUSY, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED, EXIT_NO_AGENT, EXIT_OK  # noqa: F401
from .common.api_client import AgentNotRunning, ApiClient, ApiError, find_agent, wait_for_agent
from .common.errors import AgentError, BusyError, ValidationError
from .common.networks import network_names
from .common.ops import MONEY_OPS
from .common.paths import Paths

YES_HELP = "confirm without asking (needed when there is no terminal to ask on)"
Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse with the same 'error: … / fix: …' shape as every other CLI error (exit code 2)."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise SystemExit(_fail(message, f"see '{self.prog} --help' for the valid options", EXIT_INPUT))


# simple operations: (subcommand, help); their operation kind is the name with '-' → '_'
SIMPLE_OPS = [("settle", "release finished jobs and move earnings to the worker wallet"),
              ("deregister", "stop the worker and get the stake back once the dispute window ends (scheduled)"),
              ("start", "start the worker (clears a pause)"), ("stop", "stop the worker and pause keep-online"),
              ("restart", "restart the worker"), ("reinstate", "lift a finished suspension"),
              ("free-memory", "unload models from memory (the worker must be stopped)"),
              ("remove-worker", "stop and remove the container; keys stay archived")]


def _parser() -> argparse.ArgumentParser:
    nets = list(network_names())
    p = _Parser(prog="lcai-tray", description="Run and keep online a LightChain AI worker.")
    p.add_argument("--version", action="version", version=f"lcai-tray {__version__}")
    p.add_argument("--profile", help="isolate data, keys, keychain entries and containers (default: 'default')")
    p.add_argument("--network", choices=nets, help=f"network to run (default: the saved one, {nets[0]})")
    p.add_argument("--headless", action="store_true", help="run the agent without tray or windows (servers, SSH)")
    p.add_argument("--secrets-file", type=Path,
                   help="opt-in for headless servers without a keychain: keep keystore passwords in this 0600 file")
    p.set_defaults(func=_cmd_default)
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("serve", help="run the agent (supervisor + local API); add --headless on servers")
    s.add_argument("--headless", action="store_true", dest="serve_headless")
    s.add_argument("--network", dest="serve_network", choices=nets, help=argparse.SUPPRESS)
    s.add_argument("--secrets-file", dest="serve_secrets_file", type=Path, help=argparse.SUPPRESS)
    add_metrics_arguments(s)
    s.set_defaults(func=_cmd_serve)
    cli_local.add_parsers(sub, _ensure_agent)
    su = sub.add_parser("setup", help="terminal onboarding (for headless servers; needs a terminal, or --no-input)")
    su.add_argument("--generate-password", action="store_true", help="let the app generate the keystore password")
    su.add_argument("--gpus", metavar="IDS", help="pin this profile's worker to these GPUs, e.g. '1' or '0,1' "
                    "(one worker per GPU: one profile each); saved in the profile's settings")
    cli_setup_auto.add_arguments(su)
    su.set_defaults(func=_cmd_setup)
    for name, help_ in SIMPLE_OPS:
        c = sub.add_parser(name, help=help_)
        c.add_argument("--yes", action="store_true", help=YES_HELP)
        if name == "deregister":
            c.add_argument("--cancel", action="store_true",
                           help="cancel a scheduled deregistration (before its transaction is sent): the worker resumes")
        c.set_defaults(func=_cmd_op, kind=name.replace("-", "_"))
    w = sub.add_parser("withdraw", help="send funds from the worker wallet to another address")
    w.add_argument("--to", required=True, help="destination address (checksummed)")
    w.add_argument("--amount", required=True, help="amount in LCAI, or 'max'")
    w.add_argument("--force", action="store_true", help="allow going below the gas reserve while registered")
    w.add_argument("--yes", action="store_true", help=YES_HELP)
    w.set_defaults(func=_cmd_withdraw)
    cs = sub.add_parser("clear-stuck", help="clear jobs stuck past their deadline (no-fault refund first)")
    cs.add_argument("--allow-slash", action="store_true",
                    help="for jobs with no no-fault path only: clear them with claimTimeout (costs the slash shown)")
    cs.add_argument("--yes", action="store_true", help=YES_HELP)
    cs.set_defaults(func=_cmd_op, kind="clear_stuck")
    tu = sub.add_parser("top-up", help="add stake")
    tu.add_argument("--amount", required=True, help="amount in LCAI")
    tu.add_argument("--yes", action="store_true", help=YES_HELP)
    tu.set_defaults(func=_cmd_op, kind="top_up")
    cli_models.add_parser(sub, _Parser, _agent_call, _op, _confirmation)
    sp = sub.add_parser("speedtest", help="measure worst-case job time against the deadline")
    sp.add_argument("models", nargs="*")
    sp.set_defaults(func=_cmd_op, kind="speedtest")
    cli_keys.add_parser(sub, _Parser, _agent_call, _op, _print, _confirmation)
    cli_worker.add_parser(sub, _Parser, _agent_call, _op, _confirmation)
    cli_autosettle.add_parser(sub, _Parser, _agent_call)
    a = sub.add_parser("autostart", help="start at login (systemd user unit / XDG / LaunchAgent / Task Scheduler)")
    a.add_argument("state", choices=["on", "off"])
    a.set_defaults(func=_agent_call(_autostart))
    o = sub.add_parser("open", help="open the dashboard in a browser")
    o.add_argument("--print-url", action="store_true", help="only print a one-time login URL (e.g. for an SSH tunnel)")
    o.add_argument("--page", default="dashboard", help="page name, e.g. onboarding, withdraw")
    o.set_defaults(func=_agent_call(_open))
    sw = sub.add_parser("switch-network", help="switch to another network (each keeps its own state)")
    sw.add_argument("target", choices=nets)
    sw.set_defaults(func=_cmd_op, kind="switch_network")
    win = sub.add_parser("_window", help=argparse.SUPPRESS)  # frozen builds: a window child process
    win.add_argument("window_args", nargs=argparse.REMAINDER)
    win.set_defaults(func=_cmd_window)
    cli_preflight.add_parser(sub).set_defaults(func=_agent_call(cli_preflight.handler))
    cli_fleet.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.profile:
        os.environ["LCAI_TRAY_PROFILE"] = args.profile
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except AgentError as e:  # one clear line, no traceback
        return _fail(e.message, e.fix, exit_code_for(e))


def exit_code_for(e: AgentError) -> int:
    """The README's exit code for an error: busy 4, no agent 3, bad input 2, anything else 1."""
    status = getattr(e, "status", 0)
    if isinstance(e, BusyError) or e.code == "busy" or status == 409:
        return EXIT_BUSY
    if isinstance(e, AgentNotRunning) or e.code == "agent_not_running":
        return EXIT_NO_AGENT
    if isinstance(e, ValidationError) or e.code in ("invalid_input", "config_invalid") or status in (400, 422):
        return EXIT_INPUT
    return EXIT_FAILED


def _paths() -> Paths:
    return Paths.for_profile()


# --- commands without an agent ------------------------------------------------------------------------------
def _cmd_serve(args: argparse.Namespace) -> int:
    from .serve import run_agent

    network = getattr(args, "serve_network", None) or args.network
    secrets = getattr(args, "serve_secrets_file", None) or args.secrets_file
    return run_agent(network=network, headless=True, secrets_file=secrets,
                     metrics_listen=getattr(args, "metrics_listen", None),
                     metrics_token_file=getattr(args, "metrics_token_file", None))


def _cmd_default(args: argparse.Namespace) -> int:
    """No subcommand: the tray (or, with --headless, the agent)."""
    if args.headless:
        return _cmd_serve(args)
    from .tray.app import main as tray_main

    return tray_main(network=args.network, secrets_file=args.secrets_file)


def _cmd_window(args: argparse.Namespace) -> int:
    from .windows.child import main as window_main

    return window_main(args.window_args)


def _cmd_setup(args: argparse.Namespace) -> int:
    from .cli_setup import pin_gpus, run_setup

    if not args.no_input and (args.models or args.json):
        return _fail("--models and --json go with --no-input", "add --no-input, or leave them out to be asked",
                     EXIT_INPUT)
    client = None
    if args.gpus is not None:  # the GPU group is a setting: saved (and checked against the hardware) first
        client = _ensure_agent(args)
        pin_gpus(client, args.gpus)
    if args.no_input:
        return cli_setup_auto.handler(client or _ensure_agent(args), args)
    if not sys.stdin.isatty():  # checked before onboarding starts: a script must not get a half-done setup
        return _fail("setup needs a terminal to ask its questions" + (" (the GPU pinning is saved)" if client else ""),
                     "run it over SSH in a terminal, use --no-input with --models, or the dashboard: "
                     "'lcai-tray open --print-url'", EXIT_INPUT)
    return run_setup(client or _ensure_agent(args), generate_password=args.generate_password)


# --- commands sent to the agent -----------------------------------------------------------------------------
def _agent_call(fn: Callable[[ApiClient, argparse.Namespace], int]) -> Handler:
    """A handler that attaches to (or starts) the agent, then runs ``fn(client, args)``."""
    def handler(args: argparse.Namespace) -> int:
        return fn(_ensure_agent(args), args)
    return handler


def _ensure_agent(args: argparse.Namespace, timeout: float = 60.0) -> ApiClient:
    """Attach to the running agent of this profile, or start one in the background and attach."""
    paths = _paths()
    client = find_agent(paths.api_file)
    if client is not None:
        return client
    cmd = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "tray_agent"]
    if args.network:
        cmd += ["--network", args.network]
    if args.secrets_file:
        cmd += ["--secrets-file", str(args.secrets_file)]
    cmd += ["serve", "--headless"]
    paths.logs.mkdir(parents=True, exist_ok=True)
    with open(paths.logs / "agent-stdout.log", "ab") as out:
        subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    client = wait_for_agent(paths.api_file, timeout)
    if client is None:
        raise AgentNotRunning("the agent did not start", fix=f"see {paths.logs / 'agent-stdout.log'}")
    return client


def _cmd_op(args: argparse.Namespace) -> int:
    client = _ensure_agent(args)
    kind: str = "cancel_deregister" if getattr(args, "cancel", False) else args.kind
    body: dict[str, Any] = {}
    question = f"Run {args.cmd}?"
    if kind == "clear_stuck":
        from .cli_format import fmt_stuck, lcai

        listing = client.get("/api/stuck")
        print(fmt_stuck(listing))
        slash = int(listing.get("slash_wei_total") or 0)
        body["allow_slash"] = bool(args.allow_slash) and bool(listing.get("slash_applies"))
        if body["allow_slash"]:  # the exact amount shown is the most the agent may slash
            body["max_slash_wei"] = str(slash)
            question = f"Accept a slash of {lcai(slash)} LCAI ({slash} wei) for the jobs with no no-fault path?"
        elif listing.get("slash_applies"):
            print("jobs with no no-fault path stay stuck: add --allow-slash to clear them with the slash shown")
    elif kind == "top_up":
        body["amount"] = args.amount
    elif kind == "speedtest":
        body["models"] = args.models
    elif kind == "switch_network":
        body["network"] = args.target
    elif kind == "remove_worker":  # the key is archived with whatever stake it holds: say so before asking
        from .cli_keys import stake_note

        print(stake_note(client.get("/api/status"), "remove-worker"))
    elif kind == "stop":  # the consequence first: a registered worker keeps getting jobs that time out
        preview = client.get("/api/stop/preview")
        print(f"stop: {preview['consequence']}")
        if preview.get("registered"):
            refused = _confirmation(args, "stopping a registered worker makes its jobs time out as offences",
                                    "Stop anyway? (to leave safely: lcai-tray deregister)")
            if refused is not None:
                return refused
    if kind in MONEY_OPS:
        name = args.cmd
        refused = _confirmation(args, f"{name} moves funds or stake", question)
        if refused is not None:
            return refused
        body["confirm"] = True
    return _op(client, kind, body)


def _cmd_withdraw(args: argparse.Namespace) -> int:
    from urllib.parse import urlencode

    from .cli_format import lcai

    client = _ensure_agent(args)
    prev = client.get("/api/withdraw/preview?" + urlencode({"to": args.to, "amount": args.amount}))
    if not prev.get("ok"):
        err = prev.get("error", {})
        return _fail(err.get("message", "the withdrawal is not possible"), err.get("fix", ""), EXIT_INPUT)
    print(f"Send {lcai(prev['amount_wei'])} LCAI to {prev['to']} (fee ≈ {lcai(prev['fee_wei'])} LCAI; "
          f"{lcai(prev['remaining_wei'])} LCAI stays in the worker wallet)")
    refused = _confirmation(args, "withdraw moves funds", "Send?")
    if refused is not None:
        return refused
    return _op(client, "withdraw", {"to": args.to, "amount": args.amount, "force": args.force, "confirm": True})


def _autostart(client: ApiClient, args: argparse.Namespace) -> int:
    s = client.post("/api/settings", {"autostart": args.state == "on"})
    print(f"autostart: {'on' if s['autostart'] else 'off'}")
    return EXIT_OK


def _open(client: ApiClient, args: argparse.Namespace) -> int:
    page = args.page if args.page.endswith(".html") else f"{args.page}.html"
    res = client.post(f"/api/login-code?next=/ui/{page}")
    if args.print_url:
        print(res["url"])
        return EXIT_OK
    import webbrowser

    if not webbrowser.open(res["url"]):
        print(f"open this one-time link in a browser (valid 60 s): {res['url']}")
    return EXIT_OK


def _print(data: Any, fmt: str) -> int:
    from . import cli_format

    print(getattr(cli_format, fmt)(data))
    return EXIT_OK


# --- shared helpers -----------------------------------------------------------------------------------------
def _fail(message: str, fix: str = "", code: int = EXIT_FAILED) -> int:
    """Print the one error shape every command uses (error line, then fix line) and return ``code``."""
    print(f"error: {message}", file=sys.stderr)
    if fix:
        print(f"fix:   {fix}", file=sys.stderr)
    return code


def _confirmation(args: argparse.Namespace, what: str, question: str) -> int | None:
    """None to go ahead (--yes, or 'y' at the prompt); otherwise the exit code to return."""
    if getattr(args, "yes", False):
        return None
    if not sys.stdin.isatty():
        return _fail(f"{what} and needs confirmation", "add --yes to confirm without a terminal", EXIT_INPUT)
    if input(f"{question} [y/N] ").strip().lower() in ("y", "yes"):
        return None
    print("cancelled")
    return EXIT_OK


def _op(client: ApiClient, kind: str, body: dict) -> int:
    """Start an operation and follow its progress to the end."""
    try:
        started = client.post(f"/api/ops/{kind}", body)
    except ApiError as e:
        if e.status == 409:
            e.code = "busy"
        raise
    return _follow(client, started["op_id"])


def _follow(client: ApiClient, op_id: str) -> int:
    from rich.console import Console

    from .cli_format import fmt_result, unfinished

    console = Console(stderr=True)
    seen = 0
    with console.status(f"running {op_id}…") as spinner:
        while True:
            rec = client.get(f"/api/ops/{op_id}")
            for item in rec.get("progress", []):
                if item.get("i", 0) < seen:
                    continue
                frac = item.get("fraction")
                pct = f" [{frac * 100:3.0f}%]" if isinstance(frac, (int, float)) else ""
                console.print(f"  {item['message']}{pct}", markup=False)
                seen = item.get("i", 0) + 1
            if rec["state"] in ("done", "failed", "interrupted", "cancelled"):
                break
            spinner.update(f"{rec['kind']}: {rec['progress'][-1]['message'] if rec.get('progress') else 'working'}")
            time.sleep(0.5)
    if rec["state"] == "done":
        print(fmt_result(rec["kind"], rec.get("result")))
        left = unfinished(rec["kind"], rec.get("result"))
        return _fail(*left) if left else EXIT_OK
    err = rec.get("error") or {}
    return _fail(err.get("message", "failed"), err.get("fix", ""),
                 EXIT_INPUT if err.get("code") in ("invalid_input",) else EXIT_FAILED)


if __name__ == "__main__":
    sys.exit(main())
