"""Runs inside a private ``dbus-run-session`` with its own gnome-keyring (see test_keyring.py): drives real agents
against a keychain that gets locked, and prints one JSON object with what it observed.

    python -m tests.faults.keyring_driver <home>
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from tests.harness import MODEL, PASSWORD, AgentProc, tree_hashes


def lock_default_collection() -> bool:
    import secretstorage

    bus = secretstorage.dbus_init()
    col = secretstorage.get_default_collection(bus)
    col.lock()
    return col.is_locked()


def main(home: str) -> int:
    out: dict = {}
    root = Path(home)
    a = AgentProc(root / "a", profile="kr-a", secrets_file=None)
    b = AgentProc(root / "b", profile="kr-b", secrets_file=None)
    try:
        # 1. unlocked keychain: the key is created and its password is stored in the keychain
        a.start()
        a.post("/api/onboarding/network", {"network": "devnet"})
        a.post("/api/onboarding/models", {"models": [MODEL]})
        r = a.post("/api/onboarding/password", {"password": PASSWORD})
        out["unlocked_create"] = {"status": r.status, "body": r.body}
        out["locked"] = lock_default_collection()
        # 2. locked keychain, new key: clear typed error, nothing written
        b.start()
        b.post("/api/onboarding/network", {"network": "devnet"})
        b.post("/api/onboarding/models", {"models": [MODEL]})
        before = tree_hashes(b.data, skip=("history.sqlite", "chain/", "jobs-cache"))
        t0 = time.monotonic()
        r = b.post("/api/onboarding/password", {"password": PASSWORD}, timeout=60)
        out["locked_create"] = {"status": r.status, "body": r.body, "seconds": time.monotonic() - t0}
        out["locked_create_files_changed"] = before != tree_hashes(b.data, skip=("history.sqlite", "chain/",
                                                                                 "jobs-cache"))
        out["locked_create_key_exists"] = b.key_dir.exists()
        # 3. locked keychain, existing key: the agent restarts, stays up and says what is wrong
        a.stop()
        a.start()
        time.sleep(3)
        st = a.status()
        out["locked_restart"] = {"alive": a.alive(), "state": st.get("state"), "message": st.get("message"),
                                 "fix": st.get("fix")}
        r = a.post("/api/ops/settle", {"confirm": True})
        rec = a.wait_op(r.body["op_id"], 60) if r.status == 202 else r.body
        out["locked_settle"] = {"status": r.status, "op": rec}
    finally:
        for x in (a, b):
            x.cleanup()
    print("RESULT " + json.dumps(out, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
