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
