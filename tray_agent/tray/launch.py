"""Start or attach to the profile's agent from the tray, and open folders (stdlib only)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tray_agent.common.api_client import ApiClient, find_agent, wait_for_agent
from tray_agent.common.paths import Paths

log = logging.getLogger(__name__)
AGENT_START_TIMEOUT_S = 60.0


def agent_command(profile: str, network: str | None = None, secrets_file: Path | None = None) -> list[str]:
    """argv that starts the headless agent for a profile (the same program: ``lcai-tray … serve --headless``)."""
    cmd = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "tray_agent"]
    cmd += ["--profile", profile]
    if network:
        cmd += ["--network", network]
    if secrets_file:
        cmd += ["--secrets-file", str(secrets_file)]
    return cmd + ["serve", "--headless"]


def start_agent_detached(paths: Paths, network: str | None = None,
                         secrets_file: Path | None = None) -> subprocess.Popen:
    """Start the agent in its own session so that it outlives the tray; output goes to the logs folder."""
    paths.ensure()
    out = open(paths.logs / "agent-stdout.log", "ab")  # noqa: SIM115 - handed to the child
    kw: dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {
        "creationflags": getattr(subprocess, "DETACHED_PROCESS", 0) | getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
                         | getattr(subprocess, "CREATE_NO_WINDOW", 0)}
    try:
        return subprocess.Popen(agent_command(paths.profile, network, secrets_file), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, close_fds=True, cwd=str(paths.data), **kw)
    finally:
        out.close()


def ensure_agent(paths: Paths, network: str | None = None, timeout: float = AGENT_START_TIMEOUT_S,
                 stop: threading.Event | None = None, secrets_file: Path | None = None) -> tuple[ApiClient | None, subprocess.Popen | None]:
    """Attach to the profile's running agent, or start one and wait until its API answers."""
    client = find_agent(paths.api_file)
    if client is not None:
        return client, None
    log.info("no agent is running for profile %r: starting it", paths.profile)
    proc = start_agent_detached(paths, network, secrets_file)
    client = wait_for_agent(paths.api_file, timeout, stop)
    return client, proc


def open_folder(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        os.startfile(str(path))  # type: ignore[attr-defined]  # noqa: S606
    else:
        env = dict(os.environ)
        if getattr(sys, "frozen", False):  # frozen builds override LD_LIBRARY_PATH; xdg-open needs the system one
            env["LD_LIBRARY_PATH"] = env.pop("LD_LIBRARY_PATH_ORIG", "")
        subprocess.Popen(["open" if sys.platform == "darwin" else "xdg-open", str(path)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
