"""Compatibility module: the agent harness moved to :mod:`tests.harness` (one harness, one client, one "ready").

``AgentProc(home, profile)`` here keeps the old signature (OS keychain, ``start()`` returns the client) on top of
``tests.harness.AgentProc``; new code uses tests.harness directly.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from tests.harness.agent import AgentProc as _AgentProc
from tests.harness.agent import wait_op as _wait_op
from tests.harness.client import ApiClient, ApiError  # noqa: F401
from tests.harness.fixtures import docker_ready  # noqa: F401  (fixture)
from tests.polling import wait_for as _wait_for


class _Env(dict):
    """The environment as a dict (old ``a.env``) that can still be called like the new ``a.env()``."""

    def __call__(self) -> dict[str, str]:
        return dict(self)


class AgentProc(_AgentProc):
    """The old constructor: the worker key's password in the OS keychain, ``start()`` returns the client."""

    def __init__(self, home: Path, profile: str, network: str = "devnet", extra_env: dict | None = None):
        super().__init__(Path(home), profile=profile, network=network, extra_env=dict(extra_env or {}),
                         log_name=f"{profile}-agent.out")

    @property
    def env(self) -> _Env:  # type: ignore[override]
        return _Env(super().env())

    def start(self, timeout: float = 60) -> ApiClient:  # type: ignore[override]
        super().start(timeout)
        return self.client

    def stop(self, timeout: float = 20.0) -> None:  # type: ignore[override]
        """Stop the agent and what it left behind (its devnet chain, orphans) by PID."""
        self.cleanup(None)


def wait_op(client: ApiClient, op_id: str, timeout: float = 180) -> dict:
    return _wait_op(client, op_id, timeout, interval=0.3)


def wait_for(pred, timeout: float = 60, interval: float = 0.5, what: str = "condition"):
    return _wait_for(pred, timeout, interval, what)


def rpc(url: str, method: str, params: list):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["result"]


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
