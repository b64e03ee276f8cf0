"""One onboarded devnet agent per module (worker stopped, so the chain stays still), plus the before/after
snapshot that proves a rejected input changed nothing on disk or on chain."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need
from tests.harness import AgentProc, Chain, docker_client_or_none, tree_hashes

DEAD = "0x000000000000000000000000000000000000dEaD"
VOLATILE = ("history.sqlite", "logs/", "chain/", "jobs-cache", "/state/", "agent-proc.log", ".damaged-")


def _needs() -> object:
    from tray_agent.core.devnet import DevnetError, find_anvil

    try:
        find_anvil()
    except DevnetError:
        need(False, "anvil")
    client = docker_client_or_none()
    need(client is not None, "a private dockerd (DOCKER_HOST)")
    return client


@pytest.fixture(scope="module")
def stopped_agent(tmp_path_factory) -> Iterator[AgentProc]:
    """Onboarded and online once, then the worker is stopped: only our requests could change anything."""
    client = _needs()
    from tray_agent.core.runtime import images

    images.build_sim_image(client, images.SIM_IMAGE)
    home = Path(tmp_path_factory.mktemp("bi"))
    a = AgentProc(home, profile="badinput", secrets_file=home / "secrets" / "secrets.json")
    try:
        a.start()
        a.onboard()
        a.wait_state("online", 30)
        rec = a.op("stop", {}, timeout=60)
        assert rec["state"] == "done", rec
        a.wait_state("paused", 60)
        yield a
    finally:
        a.cleanup(client)
        client.close()


def snapshot(a: AgentProc) -> dict:
    st = a.status()
    chain = Chain(a.rpc_url())
    addr = st["address"]
    return {
        "files": tree_hashes(a.base, skip=VOLATILE),
        "secrets": tree_hashes(Path(a.home) / "secrets"),
        "nonce": chain.nonce(addr), "balance": chain.balance(addr), "dead": chain.balance(DEAD),
        "ops": len(a.get("/api/history?limit=1000").body["items"]),
        "settings": a.get("/api/settings").body,
    }
