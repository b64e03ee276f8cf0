"""Preflight for the running agent: collects its parts and calls :func:`preflight.run_preflight` (one call
for the API route and for the step before every stake change)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from .preflight import run_preflight


class _DockerOnce:
    """Connects to Docker at most once per preflight run (the answer, or the failure, is reused)."""

    def __init__(self) -> None:
        self._client: Any = None
        self._error: Exception | None = None
        self._tried = False

    def __call__(self) -> Any:
        if not self._tried:
            self._tried = True
            from .runtime import docker_engine

            try:
                self._client = docker_engine.connect(timeout=5)[0]
            except Exception as e:
                self._error = e
        if self._error is not None:
            raise self._error
        return self._client

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()


def worker_image(network: Any) -> str | None:
    """The image the worker container runs on ``network`` (the simulated one on devnet)."""
    from .runtime.images import SIM_IMAGE

    return network.image or (SIM_IMAGE if network.simulated else None)


def agent_preflight(agent: Any, models: Sequence[str] = ()) -> dict:
    """Run every preflight check with the agent's chain client, key custody, Ollama, keep-awake and settings."""
    docker = _DockerOnce()
    runtime = getattr(agent, "runtime", None)
    try:
        return run_preflight(
            chain=agent.chain, custody=agent.custody, docker_client=docker, ollama=agent.ollama,
            data_dir=agent.paths.data, models=list(models), image=worker_image(agent.network),
            keep_awake=runtime.keep_awake if runtime is not None else None,
            keep_awake_enabled=bool(agent.settings["keep_awake"]), profile=agent.paths.profile,
            target_address=agent.status().address or None,
        )
    finally:
        docker.close()
