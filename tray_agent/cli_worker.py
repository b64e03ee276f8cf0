"""`lcai-tray worker adopt|stop-foreign`: a worker another app (the official toolkit, LightNode) runs on this
machine. Adopt imports its key files and runs it here; the keystore password is asked at a prompt (or read from
LCAI_IMPORT_PASSWORD), never taken from argv."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any


def add_parser(sub: Any, parser_class: type, agent_call: Callable, op: Callable, confirmation: Callable) -> None:
    w = sub.add_parser("worker", help="adopt or stop a worker another app started on this machine")
    wsub = w.add_subparsers(dest="worker_cmd", metavar="adopt|stop-foreign", required=True, parser_class=parser_class)
    wa = wsub.add_parser("adopt", help="import the other worker's keys, stop it once idle, run it here")
    wa.add_argument("--name", default="", help="its container name (needed only when several run)")
    wa.add_argument("--replace", action="store_true", help="archive this app's active key first (its stake stays)")
    wa.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    wa.set_defaults(func=agent_call(lambda c, a: _adopt(c, a, op, confirmation)))
    ws = wsub.add_parser("stop-foreign", help="stop the other worker once its running jobs finish; ours starts")
    ws.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    ws.set_defaults(func=agent_call(lambda c, a: _stop(c, a, op, confirmation)))


def _adopt(client: Any, args: argparse.Namespace, op: Callable, confirmation: Callable) -> int:
    import getpass

    refused = confirmation(args, "adopting stops the other worker",
                           "Import its keys, stop it once its running jobs finish and run it here?")
    if refused is not None:
        return refused
    password = os.environ.get("LCAI_IMPORT_PASSWORD") or getpass.getpass("keystore password of that worker: ")
    return op(client, "adopt_foreign", {"password": password, "name": args.name, "replace_active": args.replace,
                                        "confirm": True})


def _stop(client: Any, args: argparse.Namespace, op: Callable, confirmation: Callable) -> int:
    refused = confirmation(args, "stopping the other worker", "Stop the other worker once its running jobs finish?")
    return refused if refused is not None else op(client, "stop_foreign", {"confirm": True})
