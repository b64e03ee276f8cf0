"""The agent process entry point (``lcai-tray serve``): logging, one instance per profile, Agent + local API,
clean shutdown on signals. Lives outside core because it wires core to the API server."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from tray_agent.common.paths import Paths

log = logging.getLogger("tray_agent")


def run_agent(network: str | None = None, headless: bool = True, secrets_file: Path | None = None,
              ready: threading.Event | None = None, metrics_listen: str | None = None,
              metrics_token_file: Path | None = None) -> int:
    """Blocking: runs until SIGTERM/SIGINT or POST /api/shutdown. Returns the exit code.

    ``metrics_listen`` (``HOST:PORT``) turns on the Prometheus listener (api/metrics_server.py); off when None.
    Without the options, ``LCAI_METRICS_LISTEN`` / ``LCAI_METRICS_TOKEN_FILE`` set them (systemd drop-ins, Ansible)."""
    from tray_agent.api.server import ApiServer
    from tray_agent.common.errors import AgentError
    from tray_agent.common.logsetup import setup_logging
    from tray_agent.common.memory import limit_arenas
    from tray_agent.core.agent import Agent
    from tray_agent.core.instance import InstanceLock, RunningInstance

    limit_arenas()
    paths = Paths.for_profile().ensure()
    setup_logging(paths.logs, "agent", console=True)
    try:
        lock = InstanceLock(paths).acquire()
    except RunningInstance as e:
        print(f"an agent is already running for profile {paths.profile!r} (pid {e.pid}); "
              f"use 'lcai-tray status' or 'lcai-tray open'", file=sys.stderr)
        return 3
    stop = threading.Event()
    keep = {"worker": True}
    try:
        metrics = None  # the Prometheus listener: validated and bound before anything starts (bad option → 2)
        metrics_listen = metrics_listen or os.environ.get("LCAI_METRICS_LISTEN") or None
        if metrics_token_file is None and os.environ.get("LCAI_METRICS_TOKEN_FILE"):
            metrics_token_file = Path(os.environ["LCAI_METRICS_TOKEN_FILE"])
        if metrics_listen or metrics_token_file:
            from tray_agent.api.metrics_server import listener_from_options

            try:
                metrics = listener_from_options(metrics_listen, metrics_token_file)
            except AgentError as e:
                print(f"error: {e.message}\nfix:   {e.fix}", file=sys.stderr)
                return 2
        try:
            agent = Agent(paths, network, secrets_file=secrets_file)
        except AgentError as e:
            log.error("cannot start: %s", e)
            print(f"error: {e.message}\nfix:   {e.fix}", file=sys.stderr)
            if metrics is not None:
                metrics.stop()
            return 2
        server = ApiServer(agent)
        agent.api_token = server.token

        def shutdown(keep_worker: bool = True) -> None:
            keep["worker"] = keep_worker
            stop.set()

        agent.on_shutdown(shutdown)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: shutdown(True))
            signal.signal(signal.SIGINT, lambda *_: shutdown(True))
        server.start()
        if metrics is not None:
            from tray_agent.api.metrics_server import agent_registry

            metrics.start(agent_registry(agent))
        lock.update(port=server.port)
        agent.start()
        log.info("agent running: profile %s, network %s, dashboard %s/ui/", paths.profile, agent.network.name,
                 server.base_url)
        if ready:
            ready.set()
        while not stop.wait(0.5):
            pass
        log.info("agent stopping (worker keeps running: %s)", keep["worker"])
        agent.stop(keep_worker=keep["worker"])
        server.stop()
        if metrics is not None:
            metrics.stop()
        return 0
    finally:
        lock.release()
