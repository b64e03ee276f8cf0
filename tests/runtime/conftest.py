"""Fixtures of the worker-runtime tests: real dockerd, the sim image, fake Ollama, a worker key on disk."""

from __future__ import annotations

import json

import pytest

from tests.plugins.docker import container_cleanup, docker_client, free_port, sim_image  # noqa: F401
from tests.plugins.ollama import fake_ollama, fake_ollama_factory  # noqa: F401
from tests.polling import wait_for as _wait_for

PASSWORD = "rt-test-password-0123456789"


@pytest.fixture
def worker_env(paths, container_cleanup):  # noqa: F811 - pytest fixture injection
    """(paths, devnet Network, password) with a light-scrypt keystore in the devnet key dir."""
    from eth_account import Account

    from tray_agent.core.keys import keystore as ks
    from tray_agent.core.networks import get_network

    net = get_network("devnet")
    kd = paths.key_dir(net.name)
    kd.mkdir(parents=True, exist_ok=True)
    (kd / "keystore.json").write_text(json.dumps(ks.encrypt_keystore(bytes(Account.create().key), PASSWORD, 1024)))
    container_cleanup(paths.profile)
    return paths, net, PASSWORD


def wait_for(pred, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``pred`` until truthy; fail with ``what`` after ``timeout`` (a liveness bound, not a benchmark)."""
    return _wait_for(pred, timeout, interval, what)
