"""Compatibility names for callers not yet moved to :mod:`tray_agent.common.api_client` (the one API client)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tray_agent.common.api_client import AgentNotRunning, ApiClient, ApiError, find_agent

__all__ = ["AgentNotRunning", "ApiClient", "ApiError", "read_api_info"]


def read_api_info(api_file: Path) -> dict[str, Any] | None:
    """The live agent's api.json as a dict (port, token, pid…), or None when no agent answers on it."""
    client = find_agent(api_file)
    if client is None:
        return None
    i = client.info
    return {"port": i.port, "token": i.token, "pid": i.pid, "profile": i.profile, "network": i.network}
