"""Keychain unavailable or locked — real backends, real agent processes: a clear typed error, nothing written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.conftest import need
from tests.harness import PYTHON, ROOT

pytestmark = [pytest.mark.docker]


def test_no_keychain_at_all_refuses_to_start_with_a_fix(agent_factory, tmp_path):
    """No Secret Service on the bus (headless server) and no --secrets-file: exit 2, one clear error + fix."""
    a = agent_factory("nokc", keyring=True)
    env = a.env()
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp_path}/no-bus"  # nothing listens there
    r = subprocess.run(a.argv("serve", "--headless"), env=env, capture_output=True, text=True, timeout=60,
                       cwd=str(ROOT))
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    err = r.stderr
    assert "error:" in err and "keychain" in err.lower(), err[-2000:]
    assert "fix:" in err and "--secrets-file" in err, err[-2000:]
    assert "Traceback" not in err
    assert not a.key_dir.exists()


def test_locked_keychain_gives_typed_errors_and_writes_nothing(tmp_path, docker_client):
    """A private D-Bus session + gnome-keyring: create a key unlocked, lock the keyring, then create another key
    (503 keychain_unavailable, nothing on disk) and restart/settle with the existing one (typed failure)."""
    need(bool(shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon")), "dbus + gnome-keyring")
    home = tmp_path / "kr"
    (home / "home").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "WAYLAND_DISPLAY")}
    env["HOME"] = str(home / "home")  # no DISPLAY: the unlock prompt fails at once instead of waiting on Xvfb
    script = (f"printf lcai | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; "
              f"exec {PYTHON} -m tests.faults.keyring_driver {home}")
    r = subprocess.run(["dbus-run-session", "--", "bash", "-c", script], env=env, capture_output=True, text=True,
                       timeout=240, cwd=str(ROOT))
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, (r.returncode, r.stdout[-2000:], r.stderr[-3000:])
    res = json.loads(lines[-1][7:])
    assert res["unlocked_create"]["status"] == 200 and res["unlocked_create"]["body"]["created"] is True
    assert res["locked"] is True
    lc = res["locked_create"]
    assert lc["status"] == 503 and lc["body"]["error"]["code"] == "keychain_unavailable", lc
    assert "unlock" in lc["body"]["error"]["fix"] and lc["seconds"] < 30
    assert res["locked_create_files_changed"] is False and res["locked_create_key_exists"] is False
    assert res["locked_restart"]["alive"] is True, res["locked_restart"]
    op = res["locked_settle"]["op"]
    assert op["state"] == "failed" and op["error"]["code"] == "keychain_unavailable" and op["error"]["fix"], op
