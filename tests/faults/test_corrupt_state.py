"""Corrupted state and history files: detected and rebuilt (moved aside) or a clear message — never a crash loop.

Each case writes garbage into one file of a profile, starts the real agent twice in a row and checks that it
serves the API both times (a crash loop would fail the second start too), that the damaged file was kept aside,
and that onboarding still works afterwards where the file was recoverable.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3

import psutil
import pytest

from tests.harness import MODEL, PASSWORD, AgentProc, Chain, wait_until

pytestmark = [pytest.mark.docker]

GARBAGE = {
    "truncated_json": b'{"network_confirmed": tru',
    "binary": bytes(range(256)) * 4,
    "wrong_type": b"[1, 2, 3]",
    "empty": b"",
}


def _files(a: AgentProc) -> dict:
    return {
        "onboarding.json": a.data / "onboarding.json",
        "settings.json": a.config / "settings.json",
        "history.sqlite": a.data / "history.sqlite",
    }


CASES = [("onboarding.json", "truncated_json"), ("onboarding.json", "wrong_type"), ("onboarding.json", "empty"),
         ("settings.json", "truncated_json"), ("settings.json", "binary"),
         ("history.sqlite", "binary"), ("history.sqlite", "truncated_json")]


@pytest.mark.parametrize("target,kind", CASES)
def test_corrupted_state_file_is_detected_and_rebuilt(agent_factory, target, kind):
    a = agent_factory(f"c{CASES.index((target, kind))}")
    a.start()  # creates every file with real content first
    assert a.post("/api/onboarding/network", {"network": "devnet"}).status == 200
    assert a.post("/api/onboarding/models", {"models": [MODEL]}).status == 200
    a.stop()
    path = _files(a)[target]
    assert path.exists(), f"{target} was not written by a normal run"
    for extra in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        extra.unlink(missing_ok=True)
    path.write_bytes(GARBAGE[kind])

    a.start()
    # a never-onboarded profile with a damaged file: once the start-up settles it asks for setup (not an error)
    st = wait_until(lambda: (s := a.status())["state"] != "starting" and s, 30, what="a settled state")
    assert st["state"] == "setup_needed", st
    aside = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + ".") and
                   ("damaged" in p.name or "corrupt" in p.name))
    if kind != "empty" or target != "history.sqlite":  # an empty file is a valid empty SQLite database
        assert aside, f"the damaged {target} was not kept aside for inspection: {sorted(os.listdir(path.parent))}"
        assert "damaged" in a.tail(20000) or "corrupt" in a.tail(20000), "no log line names the damage"
    # usable again: the file is rewritten on the next change
    r = a.post("/api/onboarding/network", {"network": "devnet"})
    assert r.status == 200, r.body
    r = a.post("/api/onboarding/models", {"models": [MODEL]})
    assert r.status == 200, r.body
    if target == "history.sqlite":
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        db.close()
        assert a.get("/api/history").status == 200
    else:
        assert json.loads(path.read_text())  # valid JSON again
    # a second restart with the rebuilt file is clean (no crash loop, nothing new moved aside)
    a.stop()
    a.start()
    again = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name + ".") and
                   ("damaged" in p.name or "corrupt" in p.name))
    assert again == aside


def test_corrupted_keystore_gives_a_clear_error_not_a_crash_loop(agent_factory):
    a = agent_factory("ckeys").start()
    assert a.post("/api/onboarding/network", {"network": "devnet"}).status == 200
    assert a.post("/api/onboarding/models", {"models": [MODEL]}).status == 200
    assert a.post("/api/onboarding/password", {"password": PASSWORD}).status == 200
    a.stop()
    ks = a.key_dir / "keystore.json"
    ks.write_bytes(b'{"version": 3, "crypto": ')
    rc = None
    try:
        a.start(timeout=30)
    except Exception as e:  # a clean refusal to start is acceptable when it names the problem
        rc = a.proc.returncode if a.proc else None
        text = a.tail(4000)
        assert rc is not None and rc != 0 and "keystore" in text.lower() and "fix" in text.lower(), (e, text)
        return
    # running: the API answers and says what is wrong with the key
    for path in ("/api/status", "/api/onboarding", "/api/keys"):
        r = a.get(path)
        assert r.status < 500, (path, r.status, r.body)
    r = a.get("/api/keys")
    body = json.dumps(r.body)
    assert r.status == 200 or ("keystore" in body.lower() and r.body.get("error", {}).get("fix")), r.body
    st = a.status()
    assert st["state"] == "error" and "keystore" in st["message"].lower() and st["fix"], st
    assert a.alive()


def test_corrupted_devnet_book_and_stale_api_file(agent_factory):
    a = agent_factory("cbook").start()
    a.stop()
    book = a.book_file
    pid = json.loads(book.read_text())["pid"]
    book.write_text("{garbage")
    a.api_file.write_text('{"port": 1, "token": "stale", "pid": 999999}')
    try:
        a.start()  # ready: the new process wrote api.json (not the stale one) and answers /api/status
        assert a.info["pid"] == a.pid and a.info["token"] != "stale"
        # a never-onboarded profile: once the start-up settles the agent asks for setup, not an error
        st = wait_until(lambda: (s := a.status())["state"] != "starting" and s, 30, what="a settled state")
        assert st["state"] == "setup_needed", st
        # the garbage book was replaced by a fresh devnet whose chain answers
        fresh = json.loads(book.read_text())
        assert fresh["pid"] != pid and psutil.pid_exists(fresh["pid"]), fresh
        assert int(Chain(fresh["rpc"]).call("eth_chainId"), 16) == fresh["chainId"]
    finally:
        try:  # the old anvil the damaged book pointed at: stop it by PID
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

