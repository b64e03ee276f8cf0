"""CLI commands about this profile's agent itself: ``status``, ``logs`` and ``shutdown``."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from .cli_codes import EXIT_FAILED, EXIT_NO_AGENT, EXIT_OK
from .common.api_client import ApiClient, find_agent
from .common.paths import Paths

EnsureAgent = Callable[[argparse.Namespace], ApiClient]


def add_parsers(sub, ensure_agent: EnsureAgent) -> None:
    st = sub.add_parser("status", help="show the worker status")
    st.add_argument("--json", action="store_true")
    st.add_argument("--wait-online", type=float, metavar="SECONDS", help="wait until the worker is online")
    st.set_defaults(func=cmd_status)
    lg = sub.add_parser("logs", help="show the agent log")
    lg.add_argument("-n", type=int, default=50, help="lines")
    lg.add_argument("--path", action="store_true", help="print the log folder only")
    lg.add_argument("--worker", action="store_true", help="the worker container's log (redacted) instead")
    lg.set_defaults(func=lambda args: cmd_logs(args, ensure_agent))
    sd = sub.add_parser("shutdown", help="stop the agent")
    sd.add_argument("--stop-worker", action="store_true", help="also stop the worker container")
    sd.set_defaults(func=cmd_shutdown)


def cmd_shutdown(args: argparse.Namespace) -> int:
    client = find_agent(Paths.for_profile().api_file)
    if client is None:
        print("no agent is running for this profile")
        return EXIT_OK
    client.shutdown(keep_worker=not args.stop_worker)
    print("agent stopping" + ("" if args.stop_worker else " (the worker keeps running)"))
    return EXIT_OK


def cmd_logs(args: argparse.Namespace, ensure_agent: EnsureAgent) -> int:
    paths = Paths.for_profile()
    if args.path:
        print(paths.logs)
        return EXIT_OK
    if args.worker:
        print("\n".join(ensure_agent(args).get(f"/api/worker/log?lines={args.n}")["lines"]))
        return EXIT_OK
    f = paths.logs / "agent.log"
    if not f.exists():
        print(f"no log yet at {f}")
        return EXIT_OK
    print("\n".join(f.read_text(errors="replace").splitlines()[-args.n:]))
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    paths = Paths.for_profile()
    client = find_agent(paths.api_file)
    if client is None:
        if args.json:
            print(json.dumps({"agent": "not running", "profile": paths.profile}))
        else:
            print(f"agent: not running (profile {paths.profile}) — start it with 'lcai-tray' or 'lcai-tray serve --headless'")
        return EXIT_NO_AGENT
    st = client.get("/api/status")
    if args.wait_online:
        deadline = time.time() + args.wait_online
        while st["state"] != "online" and time.time() < deadline:
            time.sleep(1)
            st = client.get("/api/status")
    if args.json:
        print(json.dumps(st, indent=1))
    else:
        from .cli_format import fmt_status

        print(fmt_status(st))
    return EXIT_OK if not args.wait_online or st["state"] == "online" else EXIT_FAILED
