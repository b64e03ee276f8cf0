"""`lcai-tray setup` driven through a real pseudo-terminal, like a person on an SSH session."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from tests.harness import AgentProc, docker_client_or_none
from tests.polling import wait_for


def _read_until(fd: int, text: str, buf: list[str], timeout: float = 60) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 4096).decode(errors="replace")
            except OSError:
                break
            buf.append(chunk)
            if text in "".join(buf):
                return "".join(buf)
    raise AssertionError(f"never saw {text!r}; screen so far:\n{''.join(buf)[-2000:]}")


def test_terminal_setup_to_online(tmp_path, docker_ready):
    a = AgentProc(tmp_path / "home", profile="tty")
    client = a.start().client
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "tray_agent", "setup"], env=a.env(), stdin=slave, stdout=slave,
                            stderr=slave, close_fds=True)
    os.close(slave)
    screen: list[str] = []
    try:
        _read_until(master, "network [", screen)
        os.write(master, b"devnet\n")
        _read_until(master, "models to serve", screen)
        os.write(master, b"no-such-model\n")
        _read_until(master, "not offered", screen)
        os.write(master, b"llama3-8b\n")
        _read_until(master, "keystore password", screen)
        os.write(master, b"Tty-Password-42\n")
        _read_until(master, "again:", screen)
        os.write(master, b"Tty-Password-42\n")
        out = _read_until(master, "payment link: ethereum:", screen)
        assert "Worker key created: 0x" in out and "Tty-Password-42" not in out  # getpass: not echoed
        client.post("/api/ops/devnet_fund", {})
        out = _read_until(master, "The worker is online", screen, timeout=240)
        assert "staking" in out
        assert proc.wait(30) == 0
        assert client.get("/api/status")["state"] == "online"
        wait_for(lambda: client.get("/api/onboarding")["done"], timeout=10, what="onboarding done")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        a.cli("shutdown", "--stop-worker")
        a.cleanup(docker_client_or_none())


def test_unattended_setup_stops_at_funding_is_idempotent_and_continues_once_funded(tmp_path, docker_ready):
    """`setup --no-input` (what the Ansible role runs): no terminal, no prompt; JSON report on stdout."""
    import json

    a = AgentProc(tmp_path / "home", profile="auto")
    client = a.start().client
    try:
        r = a.cli("setup", "--no-input", "--json")  # no models chosen yet: a clear error, nothing created
        assert r.returncode == 2, r.stdout + r.stderr
        rep = json.loads(r.stdout)
        assert rep["error"]["message"] == "no models chosen for this worker" and "--models" in rep["error"]["fix"]
        assert rep["address"] is None
        r = a.cli("setup", "--no-input", "--json", "--models", "llama3-8b")
        assert r.returncode == 0, r.stdout + r.stderr
        rep = json.loads(r.stdout)
        assert rep["step"] == "funding" and rep["changed"] and rep["changes"] == ["network", "models", "key"]
        f = rep["funding"]
        assert rep["address"] == f["address"] and not f["funded"] and int(f["missing_wei"]) > 0
        assert f["eip681"] == f"ethereum:{rep['address']}@{f['chain_id']}?value={f['missing_wei']}"
        again = json.loads(a.cli("setup", "--no-input", "--json", "--models", "llama3-8b").stdout)
        assert not again["changed"] and again["address"] == rep["address"] and again["step"] == "funding"
        r = a.cli("setup", "--no-input", "--models", "llama3-8b")  # the readable form says what to do
        assert r.returncode == 0 and f"LCAI to {rep['address']}" in r.stdout and "ethereum:" in r.stdout
        assert a.cli("setup", "--json").returncode == 2  # --json without --no-input: usage error, not a prompt
        client.post("/api/ops/devnet_fund", {})
        r = a.cli("setup", "--no-input", "--json", "--wait-funding", "30", timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        rep = json.loads(r.stdout)
        assert rep["done"] and rep["step"] == "online" and "continued" in rep["changes"], rep
        assert "registered" in rep["progress"], rep["progress"]
        final = json.loads(a.cli("setup", "--no-input", "--json", "--models", "llama3-8b").stdout)
        assert final["done"] and not final["changed"]
    finally:
        a.cli("shutdown", "--stop-worker")
        a.cleanup(docker_client_or_none())
