"""The API server: Starlette app + uvicorn on 127.0.0.1:<random port>, port and token in a 0600 file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import threading
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from tray_agent.common.atomic import atomic_write

from ..resources import resource_dir
from .routes import build_routes
from .security import LoginCodes, SecurityMiddleware, error

if TYPE_CHECKING:
    from ..core.agent import Agent

log = logging.getLogger(__name__)


def build_app(agent: Agent, token: str, port_ref: list[int]) -> Starlette:
    codes = LoginCodes()
    routes = build_routes(agent, codes, port_ref)
    routes.append(Mount("/ui", app=StaticFiles(directory=str(resource_dir("web_ui")), html=True), name="ui"))
    async def http_error(request, exc: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error(exc.status_code, code, exc.detail or "request refused",
                     "see docs/api.md for the endpoints" if exc.status_code in (404, 405) else "")

    app = Starlette(routes=routes, middleware=[Middleware(SecurityMiddleware, token=token, port_ref=port_ref)],
                    exception_handlers={HTTPException: http_error})
    app.state.login_codes = codes
    return app


class QuietServer(uvicorn.Server):
    """uvicorn's main loop wakes 10× a second (Date header, exit flag); idle, this one wakes once a second and
    still stops at once: :meth:`request_exit` wakes it from any thread."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # uvicorn refreshes the Date header when counter % 10 == 0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)
            should_exit = await self.on_tick(counter)

    def request_exit(self) -> None:
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wake.set)


class ApiServer:
    """Runs uvicorn in a background thread; ``info`` is what goes into api.json."""

    def __init__(self, agent: Agent, host: str = "127.0.0.1", port: int = 0):
        self.agent = agent
        self.token = secrets.token_urlsafe(32)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.port_ref = [self.port]
        self.app = build_app(agent, self.token, self.port_ref)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off", ws="none",
                                timeout_graceful_shutdown=2)
        self.server = QuietServer(config)
        self.thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.sock.listen(64)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, name="api", daemon=True)
        self.thread.start()
        self.write_info()
        log.info("local API listening on %s", self.base_url)

    def write_info(self) -> None:
        paths = self.agent.paths
        paths.runtime.mkdir(parents=True, exist_ok=True)
        os.chmod(paths.runtime, 0o700)
        info = {"port": self.port, "token": self.token, "pid": os.getpid(), "profile": paths.profile,
                "network": self.agent.network.name, "url": self.base_url}
        atomic_write(paths.api_file, json.dumps(info), mode=0o600)

    def stop(self) -> None:
        self.server.request_exit()
        if self.thread:
            self.thread.join(timeout=5)
        try:
            info = json.loads(self.agent.paths.api_file.read_text())
            if info.get("pid") == os.getpid():
                self.agent.paths.api_file.unlink()
        except (OSError, ValueError):
            pass
