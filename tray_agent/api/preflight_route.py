"""GET /api/preflight: every preflight check with its result (ok|warn|block), detail and fix."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tray_agent.common.errors import AgentError

from .http_status import status_for
from .security import error

log = logging.getLogger(__name__)


def preflight_route(run: Callable[[], dict]) -> Route:
    """The route; ``run`` does the checks (blocking: it runs in a worker thread)."""

    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await asyncio.to_thread(run))
        except AgentError as e:
            return JSONResponse({"error": e.to_dict()}, status_code=status_for(e))
        except Exception:
            log.exception("preflight failed")
            return error(500, "internal_error", "the preflight hit an unexpected error", "see the agent log file")

    return Route("/api/preflight", endpoint, methods=["GET"])
