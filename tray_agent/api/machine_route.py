"""GET /api/machine/workers: every worker on this machine (one profile per GPU or GPU group), read-only.

This agent's own entry comes from its state; the others from their agents' local API files (``common/siblings``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tray_agent.common.paths import machine_profiles
from tray_agent.common.siblings import Machine, WorkerEntry, discover

from .security import error

if TYPE_CHECKING:
    from ..core.agent import Agent

log = logging.getLogger(__name__)


def machine_view(agent: Agent) -> dict:
    own = agent.paths.profile
    me = WorkerEntry(own, agent.status(), agent.settings.gpu_ids(), current=True)
    others = discover(profiles=[p for p in machine_profiles() if p != own], with_settings=True)
    return Machine((me, *others.workers)).to_dict()


def machine_route(agent: Agent) -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await asyncio.to_thread(machine_view, agent))
        except Exception:
            log.exception("listing the workers on this machine failed")
            return error(500, "internal_error", "the workers on this machine could not be listed",
                         "see the agent log file")

    return Route("/api/machine/workers", endpoint, methods=["GET"])
