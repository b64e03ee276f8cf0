"""`lcai-tray keys list|recover|import|export`: archived keys, recovery, and moving a worker in from (or out to)
the official toolkit. The keystore password is asked at a prompt, never taken from argv."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cli_codes import EXIT_OK


def add_parser(sub: Any, parser_class: type, agent_call: Callable, op: Callable, show: Callable,
               confirm: Callable) -> None:
    k = sub.add_parser("keys", help="list archived keys, recover one, import or export a worker")
    ksub = k.add_subparsers(dest="keys_cmd", metavar="list|recover|replace|import|export", required=True,
                            parser_class=parser_class)
    ksub.add_parser("list").set_defaults(func=agent_call(lambda c, a: show(c.get("/api/keys"), "fmt_keys")))
    kr = ksub.add_parser("recover")
    kr.add_argument("id", help="archive id from 'keys list'")
    kr.set_defaults(func=agent_call(lambda c, a: op(c, "recover", {"id": a.id})))
    ki = ksub.add_parser("import", help="import a toolkit / LightNode worker folder (keystore + encryption key)")
    ki.add_argument("path", help="the folder with keystore.json + encryption.key (or the legacy layout)")
    ki.add_argument("--replace", action="store_true", help="archive the active key first (its stake stays with it)")
    ki.set_defaults(func=agent_call(lambda c, a: _keys_import(c, a, op)))
    kp = ksub.add_parser("replace", help="archive the active key and make a new one (its stake stays with the old key)")
    kp.add_argument("--yes", action="store_true", help="confirm without asking (scripts)")
    kp.set_defaults(func=agent_call(lambda c, a: _keys_replace(c, a, op, confirm)))
    ke = ksub.add_parser("export", help="write a toolkit-compatible backup into an empty folder (files 0600)")
    ke.add_argument("dest", help="an empty or new folder")
    ke.add_argument("--with-password", action="store_true", help="also put the keystore password in the env file")
    ke.set_defaults(func=agent_call(_keys_export))


def _keys_import(client: Any, args: argparse.Namespace, op: Callable) -> int:
    import getpass

    password = os.environ.get("LCAI_IMPORT_PASSWORD") or getpass.getpass("keystore password of that worker: ")
    return op(client, "import_keys", {"path": str(Path(args.path).resolve()), "password": password,
                                       "replace_active": args.replace})


def stake_note(st: dict, verb: str) -> str:
    """What happens to the active key's stake when it is archived (replace, remove-worker)."""
    from .cli_format import lcai

    stake = int(st.get("stake_wei") or 0)
    if not st.get("registered") or not stake:
        return f"{verb}: the key {st.get('address') or '(none)'} is archived; it holds no stake"
    return (f"{verb}: the key {st['address']} still holds {lcai(stake)} LCAI of stake. That stake stays with the old key "
            "(it is not moved): recover the key later with 'lcai-tray keys recover ID' to use or deregister it, or "
            "run 'lcai-tray deregister' first to get the stake back")


def _keys_replace(client: Any, args: argparse.Namespace, op: Callable, confirm: Callable) -> int:
    st = client.get("/api/status")
    print(stake_note(st, "replace the worker key"))
    refused = confirm(args, "replacing the worker key archives a key that may hold stake",
                            "Archive this key and make a new one?")
    if refused is not None:
        return refused
    return op(client, "replace_key", {"confirm": True})


def _keys_export(client: Any, args: argparse.Namespace) -> int:
    res = client.post("/api/keys/export", {"dest": str(Path(args.dest).resolve()), "include_password": args.with_password})
    print("backup written:\n  " + "\n  ".join(res["files"]))
    if not res["password_included"]:
        print("the env file has no password: add WORKER_KEYSTORE_PASSWORD yourself when you run it")
    return EXIT_OK
