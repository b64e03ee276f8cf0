"""lcai-tray: the tray app, the headless agent, and every action as a subcommand.

Exit codes: 0 ok · 1 the operation failed · 2 bad input or usage · 3 no agent reachable · 4 busy · 130 interrupted.
When an agent runs for the profile, commands are sent to it; otherwise one is started in the background.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import __version__
from .common.ops import MONEY_OPS as OPS_WITH_CONFIRM

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_NO_AGENT, EXIT_BUSY, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


class _Parser(argparse.ArgumentParser):
    """argparse with the same 'error: … / fix: …' shape as every other CLI error (exit code 2)."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise SystemExit(_fail(message, f"see '{self.prog} --help' for the valid options", EXIT_INPUT))


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lcai-tray", description="Run and keep online a LightChain AI worker.")
    p.add_argument("--version", action="version", version=f"lcai-tray {__version__}")
    p.add_argument("--profile", help="isolate data, keys, keychain entries and containers (default: 'default')")
    p.add_argument("--network", choices=["testnet", "mainnet", "devnet"], help="network to run (default: the saved one, testnet)")
    p.add_argument("--headless", action="store_true", help="run the agent without tray or windows (servers, SSH)")
    p.add_argument("--secrets-file", type=Path,
                   help="opt-in for headless servers without a keychain: keep keystore passwords in this 0600 file")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("serve", help="run the agent (supervisor + local API); add --headless on servers")
    s.add_argument("--headless", action="store_true", dest="serve_headless")
    s.add_argument("--network", dest="serve_network", choices=["testnet", "mainnet", "devnet"], help=argparse.SUPPRESS)
    s.add_argument("--secrets-file", dest="serve_secrets_file", type=Path, help=argparse.SUPPRESS)
    st = sub.add_parser("status", help="show the worker status")
    st.add_argument("--json", action="store_true")
    st.add_argument("--wait-online", type=float, metavar="SECONDS", help="wait until the worker is online")
    sub.add_parser("setup", help="terminal onboarding (for headless servers)").add_argument(
        "--generate-password", action="store_true", help="let the app generate the keystore password")
    for name, help_ in [("settle", "release finished jobs and move earnings to the worker wallet"),
                        ("deregister", "get the stake back and stop the worker (waits out the dispute window)"),
                        ("start", "start the worker (clears a pause)"), ("stop", "stop the worker and pause keep-online"),
                        ("restart", "restart the worker"), ("reinstate", "lift a finished suspension"),
                        ("free-memory", "unload models from memory (the worker must be stopped)"),
                        ("remove-worker", "stop and remove the container; keys stay archived")]:
        c = sub.add_parser(name, help=help_)
        c.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    w = sub.add_parser("withdraw", help="send funds from the worker wallet to another address")
    w.add_argument("--to", required=True, help="destination address (checksummed)")
    w.add_argument("--amount", required=True, help="amount in LCAI, or 'max'")
    w.add_argument("--force", action="store_true", help="allow going below the gas reserve while registered")
    w.add_argument("--yes", action="store_true")
    cs = sub.add_parser("clear-stuck", help="time out jobs stuck past their deadline")
    cs.add_argument("--allow-slash", action="store_true", help="allow claimTimeout (costs a slash on mainnet) as a last resort")
    cs.add_argument("--yes", action="store_true")
    tu = sub.add_parser("top-up", help="add stake")
    tu.add_argument("--amount", required=True, help="amount in LCAI")
    tu.add_argument("--yes", action="store_true")
    m = sub.add_parser("models", help="list or change the served models")
    msub = m.add_subparsers(dest="models_cmd", metavar="list|set", required=True, parser_class=_Parser)
    msub.add_parser("list")
    ms = msub.add_parser("set")
    ms.add_argument("names", nargs="+", help="exact model names, e.g. llama3-8b")
    sp = sub.add_parser("speedtest", help="measure worst-case job time against the deadline")
    sp.add_argument("models", nargs="*")
    k = sub.add_parser("keys", help="list archived keys or recover one")
    ksub = k.add_subparsers(dest="keys_cmd", metavar="list|recover", required=True, parser_class=_Parser)
    ksub.add_parser("list")
    kr = ksub.add_parser("recover")
    kr.add_argument("id", help="archive id from 'keys list'")
    lg = sub.add_parser("logs", help="show the agent log")
    lg.add_argument("-n", type=int, default=50, help="lines")
    lg.add_argument("--path", action="store_true", help="print the log folder only")
    a = sub.add_parser("autostart", help="start at login (systemd user unit / XDG / LaunchAgent / Task Scheduler)")
    a.add_argument("state", choices=["on", "off"])
    o = sub.add_parser("open", help="open the dashboard in a browser")
    o.add_argument("--print-url", action="store_true", help="only print a one-time login URL (e.g. for an SSH tunnel)")
    o.add_argument("--page", default="dashboard", help="page name, e.g. onboarding, withdraw")
    sw = sub.add_parser("switch-network", help="switch to another network (each keeps its own state)")
    sw.add_argument("target", choices=["testnet", "mainnet", "devnet"])
    win = sub.add_parser("_window", help=argparse.SUPPRESS)  # frozen builds: a window child process
    win.add_argument("window_args", nargs=argparse.REMAINDER)
    sd = sub.add_parser("shutdown", help="stop the agent")
    sd.add_argument("--stop-worker", action="store_true", help="also stop the worker container")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.profile:
        os.environ["LCAI_TRAY_PROFILE"] = args.profile
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # AgentError and friends: one clear line, no traceback
        from tray_agent.common.errors import AgentError, BusyError, ValidationError

        if isinstance(e, AgentError):
            _fail(e.message, e.fix)
            if isinstance(e, BusyError) or e.code == "busy":
                return EXIT_BUSY
            if e.code == "agent_not_running":
                return EXIT_NO_AGENT
            if isinstance(e, ValidationError) or e.code in ("invalid_input", "config_invalid") or getattr(e, "status", 0) in (400, 422):
                return EXIT_INPUT
            return EXIT_FAILED
        raise


def _paths():
    from tray_agent.common.paths import Paths

    return Paths.for_profile()


def _dispatch(args) -> int:
    cmd = args.cmd
    if cmd == "serve" or (cmd is None and args.headless):
        from .core.agent_main import run_agent

        network = getattr(args, "serve_network", None) or args.network
        secrets = getattr(args, "serve_secrets_file", None) or args.secrets_file
        return run_agent(network=network, headless=True, secrets_file=secrets)
    if cmd is None:
        from .tray.app import main as tray_main

        return tray_main(network=args.network, secrets_file=args.secrets_file)
    if cmd == "_window":
        from .windows.child import main as window_main

        return window_main(args.window_args)
    if cmd == "logs":
        return _logs(args)
    if cmd == "status":
        return _status(args)
    if cmd == "shutdown":
        from .api.client import ApiClient, read_api_info

        info = read_api_info(_paths().api_file)
        if info is None:
            print("no agent is running for this profile")
            return EXIT_OK
        ApiClient(info).post("/api/shutdown", {"keep_worker": not args.stop_worker})
        print("agent stopping" + ("" if args.stop_worker else " (the worker keeps running)"))
        return EXIT_OK
    client = _ensure_agent(args)
    if cmd == "setup":
        from .cli_setup import run_setup

        return run_setup(client, generate_password=args.generate_password)
    if cmd == "open":
        return _open(client, args)
    if cmd == "models":
        if args.models_cmd == "list":
            return _print(client.get("/api/models"), _fmt_models)
        return _op(client, "set_models", {"models": args.names})
    if cmd == "keys":
        if args.keys_cmd == "list":
            return _print(client.get("/api/keys"), _fmt_keys)
        return _op(client, "recover", {"id": args.id})
    if cmd == "autostart":
        return _print(client.post("/api/settings", {"autostart": args.state == "on"}), lambda s: f"autostart: {'on' if s['autostart'] else 'off'}")
    if cmd == "withdraw":
        return _withdraw(client, args)
    body: dict[str, Any] = {}
    kind = cmd.replace("-", "_")
    if cmd == "clear-stuck":
        body["allow_slash"] = bool(args.allow_slash)
        print(_fmt_stuck(client.get("/api/stuck")))
    if cmd == "top-up":
        body["amount"] = args.amount
    if cmd == "speedtest":
        body["models"] = args.models
    if cmd == "switch-network":
        body["network"] = args.target
    if kind in OPS_WITH_CONFIRM:
        refused = _confirmation(args, f"{cmd} moves funds or stake", f"Run {cmd}?")
        if refused is not None:
            return refused
        body["confirm"] = True
    return _op(client, kind, body)


def _ensure_agent(args, timeout: float = 60.0):
    """Attach to the running agent of this profile, or start one in the background and attach."""
    from .api.client import AgentNotRunning, ApiClient, read_api_info

    paths = _paths()
    if read_api_info(paths.api_file) is None:
        cmd = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "tray_agent"]
        if args.network:
            cmd += ["--network", args.network]
        if args.secrets_file:
            cmd += ["--secrets-file", str(args.secrets_file)]
        cmd += ["serve", "--headless"]
        paths.logs.mkdir(parents=True, exist_ok=True)
        with open(paths.logs / "agent-stdout.log", "ab") as out:
            subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline and read_api_info(paths.api_file) is None:
            time.sleep(0.2)
    try:
        client = ApiClient.for_file(paths.api_file)
        client.get("/api/status")
        return client
    except AgentNotRunning:
        raise AgentNotRunning("the agent did not start", fix=f"see {paths.logs / 'agent-stdout.log'}") from None


def _fail(message: str, fix: str = "", code: int = EXIT_FAILED) -> int:
    """Print the one error shape every command uses (error line, then fix line) and return ``code``."""
    print(f"error: {message}", file=sys.stderr)
    if fix:
        print(f"fix:   {fix}", file=sys.stderr)
    return code


def _confirmation(args, what: str, question: str) -> int | None:
    """None to go ahead (--yes, or 'y' at the prompt); otherwise the exit code to return."""
    if getattr(args, "yes", False):
        return None
    if not sys.stdin.isatty():
        return _fail(f"{what} and needs confirmation", "add --yes to confirm without a terminal", EXIT_INPUT)
    if input(f"{question} [y/N] ").strip().lower() in ("y", "yes"):
        return None
    print("cancelled")
    return EXIT_OK


def _op(client, kind: str, body: dict) -> int:
    """Start an operation and follow its progress to the end."""
    from .api.client import ApiError

    try:
        started = client.post(f"/api/ops/{kind}", body)
    except ApiError as e:
        if e.status == 409:
            e.code = "busy"
        raise
    op_id = started["op_id"]
    return _follow(client, op_id)


def _follow(client, op_id: str) -> int:
    from rich.console import Console

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
            if rec["state"] in ("done", "failed", "interrupted"):
                break
            spinner.update(f"{rec['kind']}: {rec['progress'][-1]['message'] if rec.get('progress') else 'working'}")
            time.sleep(0.5)
    if rec["state"] == "done":
        print(_fmt_result(rec["kind"], rec.get("result")))
        return EXIT_OK
    err = rec.get("error") or {}
    return _fail(err.get("message", "failed"), err.get("fix", ""),
                 EXIT_INPUT if err.get("code") in ("invalid_input",) else EXIT_FAILED)


def _withdraw(client, args) -> int:
    from urllib.parse import urlencode

    prev = client.get("/api/withdraw/preview?" + urlencode({"to": args.to, "amount": args.amount}))
    if not prev.get("ok"):
        err = prev.get("error", {})
        return _fail(err.get("message"), err.get("fix", ""), EXIT_INPUT)
    print(f"Send {_lcai(prev['amount_wei'])} LCAI to {prev['to']} (fee ≈ {_lcai(prev['fee_wei'])} LCAI; "
          f"{_lcai(prev['remaining_wei'])} LCAI stays in the worker wallet)")
    refused = _confirmation(args, "withdraw moves funds", "Send?")
    if refused is not None:
        return refused
    return _op(client, "withdraw", {"to": args.to, "amount": args.amount, "force": args.force, "confirm": True})


def _status(args) -> int:
    from .api.client import ApiClient, read_api_info

    paths = _paths()
    info = read_api_info(paths.api_file)
    if info is None:
        if args.json:
            print(json.dumps({"agent": "not running", "profile": paths.profile}))
        else:
            print(f"agent: not running (profile {paths.profile}) — start it with 'lcai-tray' or 'lcai-tray serve --headless'")
        return EXIT_NO_AGENT
    client = ApiClient(info)
    st = client.get("/api/status")
    if args.wait_online:
        deadline = time.time() + args.wait_online
        while st["state"] != "online" and time.time() < deadline:
            time.sleep(1)
            st = client.get("/api/status")
    if args.json:
        print(json.dumps(st, indent=1))
    else:
        print(_fmt_status(st))
    return EXIT_OK if not args.wait_online or st["state"] == "online" else EXIT_FAILED


def _open(client, args) -> int:
    page = args.page if args.page.endswith(".html") else f"{args.page}.html"
    res = client.post(f"/api/login-code?next=/ui/{page}")
    if args.print_url:
        print(res["url"])
        return EXIT_OK
    import webbrowser

    if not webbrowser.open(res["url"]):
        print(f"open this one-time link in a browser (valid 60 s): {res['url']}")
    return EXIT_OK


def _logs(args) -> int:
    paths = _paths()
    if args.path:
        print(paths.logs)
        return EXIT_OK
    f = paths.logs / "agent.log"
    if not f.exists():
        print(f"no log yet at {f}")
        return EXIT_OK
    lines = f.read_text(errors="replace").splitlines()[-args.n:]
    print("\n".join(lines))
    return EXIT_OK


# --- formatting ---------------------------------------------------------------------------------
def _lcai(wei: str | int) -> str:
    from tray_agent.common.amounts import format_lcai

    return format_lcai(int(wei))


def _print(data: Any, fmt) -> int:
    print(fmt(data))
    return EXIT_OK


def _when(ts: int | float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "unknown"


def _fmt_result(kind: str, r: Any) -> str:
    """One readable summary per operation (the full result stays in the history / --json status)."""
    if not isinstance(r, dict):
        return "done" if r is None else str(r)
    if kind == "settle":
        lines = [f"released {r.get('released_count', 0)} job(s) ({_lcai(r.get('released_wei', 0))} LCAI), "
                 f"withdrew {_lcai(r.get('withdrawn_wei', 0))} LCAI to the worker wallet"]
        if r.get("already_released_count"):
            lines.append(f"{r['already_released_count']} job(s) were already released (e.g. by the worker)")
        if r.get("waiting"):
            lines.append(f"{len(r['waiting'])} job(s) still in the dispute window; next releasable at {_when(r.get('next_eta'))}")
        for f in r.get("failed", []):
            lines.append(f"job {f.get('job_id')}: {f.get('message', f.get('error'))}")
        return "\n".join(lines)
    if kind == "withdraw":
        return (f"sent {_lcai(r['amount_wei'])} LCAI to {r['to']} (fee {_lcai(r['fee_wei'])} LCAI), "
                f"tx {r['tx_hash']}; {_lcai(r['remaining_wei'])} LCAI left in the worker wallet")
    if kind == "deregister":
        return (f"deregistered: stake {_lcai(r.get('stake_returned_wei', 0))} LCAI returned, "
                f"{_lcai(r.get('withdrawn_wei', 0))} LCAI earnings withdrawn; the worker is stopped")
    if kind == "clear_stuck":
        jobs = r.get("jobs", [])
        if not jobs:
            return "no stuck jobs"
        return "\n".join(f"job {j['job_id']}: {j.get('action')} {j.get('message', '')}".rstrip() for j in jobs)
    return json.dumps(r, indent=1, default=str)


def _fmt_status(st: dict) -> str:
    lines = [f"{st['state_label']} — {st['network']} (profile {st['profile']})"]
    if st.get("message"):
        lines.append(f"  {st['message']}")
    if st.get("fix"):
        lines.append(f"  fix: {st['fix']}")
    if st.get("address"):
        lines.append(f"  worker: {st['address']}  registered: {'yes' if st.get('registered') else 'no'}")
        lines.append(f"  wallet {_lcai(st['wallet_wei'])} LCAI · stake {_lcai(st['stake_wei'])} · "
                     f"escrowed {_lcai(st['escrowed_wei'])} · releasable {_lcai(st['releasable_wei'])} · "
                     f"in contract {_lcai(st['worker_balance_wei'])}")
    if st.get("served_models"):
        lines.append(f"  models: {', '.join(st['served_models'])}")
    if st.get("alerts"):
        lines.append(f"  alerts: {', '.join(st['alerts'])}")
    return "\n".join(lines)


def _fmt_models(d: dict) -> str:
    rows = [f"{'model':24} {'fee (LCAI)':>11} {'memory':>9}  served  pulled"]
    for m in d.get("catalog", []):
        rows.append(f"{m['name']:24} {_lcai(m.get('fee_wei', 0)):>11} {int(m.get('footprint_bytes', 0)) / 1e9:>7.1f}GB  "
                    f"{'yes' if m.get('served') else 'no':6}  {'yes' if m.get('pulled') else 'no'}")
    return "\n".join(rows)


def _fmt_keys(d: dict) -> str:
    a = d.get("active") or {}
    rows = [f"active: {a.get('address') or 'none'}"]
    for k in d.get("archive", []):
        staked = {True: "STILL STAKED", False: "not staked", None: "stake unknown"}[k.get("still_staked")]
        rows.append(f"  {k['id']}  {k['address']}  {k['network']}  {staked}  ({k.get('reason', '')})")
    return "\n".join(rows)


def _fmt_stuck(d: dict) -> str:
    jobs = d.get("jobs", [])
    if not jobs:
        return "no stuck jobs"
    rows = [f"{len(jobs)} stuck job(s):"]
    for j in jobs:
        rows.append(f"  job {j['job_id']} state {j['state']} slash {_lcai(j.get('slash_wei', 0))} LCAI")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
