"""A real agent process on devnet (anvil + replicas + simulated worker container on the private dockerd)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.polling import wait_for as _wait_for
from tray_agent.api.client import ApiClient, read_api_info


class AgentProc:
    """Runs `lcai-tray serve --headless` for one profile under an isolated LCAI_TRAY_HOME."""

    def __init__(self, home: Path, profile: str, network: str = "devnet", extra_env: dict | None = None):
        self.home, self.profile, self.network = home, profile, network
        self.env = {**os.environ, "LCAI_TRAY_HOME": str(home), "LCAI_TRAY_PROFILE": profile, **(extra_env or {})}
        self.proc: subprocess.Popen | None = None
        self.log = home / f"{profile}-agent.out"

    @property
    def api_file(self) -> Path:
        return self.home / self.profile / "run" / "api.json"

    @property
    def book(self) -> dict:
        return json.loads((self.home / self.profile / "data/networks/devnet/chain/devnet.json").read_text())

    def start(self, timeout: float = 60) -> ApiClient:
        self.home.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "tray_agent", "--network", self.network, "serve", "--headless"],
                                     env=self.env, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            info = read_api_info(self.api_file)
            if info and info.get("pid") == self.proc.pid:
                client = ApiClient(info)
                try:
                    client.get("/api/status")
                    return client
                except Exception:
                    pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"agent did not start: {self.log.read_text()[-2000:]}")

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tray_agent", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        # stop the devnet chain the agent left behind (kill -9 paths) by its PID
        try:
            pid = int(self.book.get("pid", 0))
            if pid:
                os.kill(pid, 15)
        except (OSError, ValueError, json.JSONDecodeError):
            pass


def wait_op(client: ApiClient, op_id: str, timeout: float = 180) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        rec = client.get(f"/api/ops/{op_id}")
        if rec["state"] in ("done", "failed", "interrupted"):
            return rec
        time.sleep(0.3)
    raise AssertionError(f"operation {op_id} still running after {timeout}s: {rec}")


def wait_for(pred, timeout: float = 60, interval: float = 0.5, what: str = "condition"):
    return _wait_for(pred, timeout, interval, what)


def rpc(url: str, method: str, params: list):
    import httpx

    return httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=10).json()["result"]


@pytest.fixture(scope="module")
def docker_ready():
    from conftest import need

    need(bool(os.environ.get("DOCKER_HOST")), "the private dockerd (DOCKER_HOST)")
    need(bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS")), "a D-Bus session with gnome-keyring")


def cleanup_containers(profile: str) -> None:
    import docker

    try:
        client = docker.from_env()
        for c in client.containers.list(all=True, filters={"name": profile}):
            c.remove(force=True)
    except Exception:
        pass


def onboard(client: ApiClient, password: str, models: list[str] | None = None, timeout: float = 240) -> dict:
    """Walk onboarding on devnet through the API (funding from the devnet wallet) until online."""
    client.post("/api/onboarding/network", {"network": "devnet"})
    client.post("/api/onboarding/models", {"models": models or ["llama3-8b"]})
    client.post("/api/onboarding/password", {"password": password})
    wait_op(client, client.post("/api/ops/devnet_fund", {})["op_id"])
    rec = wait_op(client, client.post("/api/onboarding/continue")["op_id"], timeout=timeout)
    assert rec["state"] == "done", rec
    return client.get("/api/status")
