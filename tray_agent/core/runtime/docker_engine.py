"""Find, classify and start the Docker engine (docker-py), honouring DOCKER_HOST and Docker CLI contexts.

Order of endpoints: ``DOCKER_HOST`` (explicit, used alone) → ``DOCKER_CONTEXT`` / the CLI's current context
(``~/.docker/config.json`` + ``~/.docker/contexts/meta/<sha256(name)>/meta.json``) → the platform default socket →
Docker Desktop, rootless and Colima sockets. Failures become one of four :class:`DockerUnavailable` subclasses
with a message, a fix and ``retry`` (whether waiting/retrying can help).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker

from tray_agent.common.errors import AgentError

from .toolpath import find_tool, tool_env

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0


class DockerUnavailable(AgentError):
    """Docker cannot be used right now; ``retry`` says whether retrying later can help."""

    code = "docker_unavailable"
    retry = True

    def __init__(self, message: str, *, fix: str = "", endpoint: str = "", retry: bool | None = None):
        super().__init__(message, fix=fix)
        self.endpoint = endpoint
        if retry is not None:
            self.retry = retry


class DockerNotInstalled(DockerUnavailable):
    code = "docker_not_installed"
    retry = False


class DockerNotRunning(DockerUnavailable):
    code = "docker_not_running"


class DockerPermissionDenied(DockerUnavailable):
    code = "docker_permission_denied"
    retry = False


class DockerWrongContext(DockerUnavailable):
    code = "docker_wrong_context"
    retry = False


@dataclass(frozen=True)
class Endpoint:
    """A Docker API address and where it came from (shown in diagnostics)."""

    url: str
    source: str

    @property
    def socket_path(self) -> Path | None:
        return Path(self.url[len("unix://"):]) if self.url.startswith("unix://") else None


# --- discovery ---------------------------------------------------------------------------------------
def _home(home: Path | None) -> Path:
    return Path(home) if home is not None else Path.home()


def context_endpoint(name: str, home: Path | None = None) -> Endpoint | None:
    """The Docker endpoint of CLI context ``name`` (None if the context has no meta file)."""
    if name == "default":
        return None
    meta = _home(home) / ".docker" / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
    try:
        data = json.loads(meta.read_text())
        host = data["Endpoints"]["docker"]["Host"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return Endpoint(host, f"context:{name}")


def current_context(env: Mapping[str, str] | None = None, home: Path | None = None) -> str:
    """The context the docker CLI would use: DOCKER_CONTEXT, else config.json currentContext, else 'default'."""
    env = os.environ if env is None else env
    if env.get("DOCKER_CONTEXT"):
        return env["DOCKER_CONTEXT"]
    cfg_dir = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else _home(home) / ".docker"
    try:
        return json.loads((cfg_dir / "config.json").read_text()).get("currentContext") or "default"
    except (OSError, ValueError, AttributeError):
        return "default"


def known_sockets(home: Path | None = None, platform: str | None = None) -> list[Endpoint]:
    """Well-known engine sockets on this OS (default, Docker Desktop, rootless, Colima, Rancher)."""
    platform = platform or sys.platform
    h = _home(home)
    if platform.startswith("win"):
        return [Endpoint("npipe:////./pipe/docker_engine", "default"),
                Endpoint("npipe:////./pipe/dockerDesktopLinuxEngine", "desktop")]
    out = [Endpoint("unix:///var/run/docker.sock", "default")]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{uid}"
    out += [
        Endpoint(f"unix://{h}/.docker/run/docker.sock", "desktop"),      # Docker Desktop macOS >= 4.13
        Endpoint(f"unix://{h}/.docker/desktop/docker.sock", "desktop"),  # Docker Desktop for Linux
        Endpoint(f"unix://{runtime}/docker.sock", "rootless"),
        Endpoint(f"unix://{h}/.colima/default/docker.sock", "colima"),
        Endpoint(f"unix://{h}/.colima/docker.sock", "colima"),
        Endpoint(f"unix://{h}/.rd/docker.sock", "rancher-desktop"),
    ]
    return out


def candidate_endpoints(env: Mapping[str, str] | None = None, home: Path | None = None) -> list[Endpoint]:
    """Endpoints to try, best first. DOCKER_HOST, when set, is the only candidate (the user chose it)."""
    env = os.environ if env is None else env
    if env.get("DOCKER_HOST"):
        return [Endpoint(env["DOCKER_HOST"], "DOCKER_HOST")]
    out: list[Endpoint] = []
    ctx = current_context(env, home)
    if ctx != "default":
        ep = context_endpoint(ctx, home)
        if ep is None:
            raise DockerWrongContext(
                f"the Docker context {ctx!r} does not exist",
                fix="run 'docker context use default' (or the context of your engine), then retry",
                endpoint=f"context:{ctx}",
            )
        out.append(ep)
    for ep in known_sockets(home):
        if ep.url not in {e.url for e in out}:
            out.append(ep)
    return out


def docker_installed(home: Path | None = None) -> bool:
    """Docker CLI, daemon, Desktop app or Colima present on this machine."""
    if any(find_tool(b) for b in ("docker", "dockerd", "colima", "podman")):
        return True
    apps = [Path("/Applications/Docker.app"), _home(home) / "Applications/Docker.app",
            Path(os.environ.get("ProgramFiles", r"C:\Program Files")) / "Docker" / "Docker" / "Docker Desktop.exe"]
    return any(p.exists() for p in apps)


# --- classification ----------------------------------------------------------------------------------
def _root_causes(exc: BaseException) -> list[BaseException]:
    seen, out, todo = set(), [], [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        out.append(e)
        todo += [x for x in (e.__cause__, e.__context__) if x is not None]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return out


def classify(exc: BaseException, endpoint: Endpoint, installed: bool | None = None) -> DockerUnavailable:
    """Turn a docker-py/requests error into one of the DockerUnavailable subclasses."""
    causes = _root_causes(exc)
    text = " ".join(str(c) for c in causes).lower()
    where = endpoint.url
    if any(isinstance(c, PermissionError) or getattr(c, "errno", None) in (errno.EACCES, errno.EPERM)
           for c in causes) or "permission denied" in text:
        if sys.platform.startswith("linux"):
            fix = "add your user to the 'docker' group ('sudo usermod -aG docker $USER'), then log out and back in"
        else:
            fix = "make sure Docker Desktop runs under your user, then retry"
        return DockerPermissionDenied(f"no permission to use Docker at {where}", fix=fix, endpoint=where)
    installed = docker_installed() if installed is None else installed
    if not installed and endpoint.source in ("default", "desktop"):
        return DockerNotInstalled(
            "Docker is not installed",
            fix="install Docker Desktop (macOS/Windows) or Docker Engine (Linux), then retry",
            endpoint=where,
        )
    if endpoint.source.startswith("context:") and installed:
        return DockerWrongContext(
            f"the Docker context {endpoint.source[8:]!r} points at {where}, which does not answer",
            fix="start that engine, or run 'docker context use default' to use another one",
            endpoint=where,
        )
    return DockerNotRunning(
        f"Docker is installed but its engine is not running ({where})",
        fix="start Docker (Docker Desktop, 'colima start' or 'sudo systemctl start docker'); the agent retries",
        endpoint=where,
    )


# --- connecting ----------------------------------------------------------------------------------------
def connect(env: Mapping[str, str] | None = None, home: Path | None = None,
            timeout: float = DEFAULT_TIMEOUT, installed: bool | None = None) -> tuple[docker.DockerClient, Endpoint]:
    """Return a pinged DockerClient and its endpoint, or raise the most telling DockerUnavailable."""
    candidates = candidate_endpoints(env, home)
    errors: list[DockerUnavailable] = []
    for ep in candidates:
        path = ep.socket_path
        if path is not None and ep.source not in ("DOCKER_HOST",) and not ep.source.startswith("context:") \
                and not path.exists():
            continue  # well-known socket that is simply not there: no error worth reporting
        client = None
        try:
            client = docker.DockerClient(base_url=ep.url, timeout=timeout, version="auto")
            client.ping()
            return client, ep
        except Exception as e:  # docker.errors.DockerException, requests errors, OSError
            if client is not None:
                client.close()
            errors.append(classify(e, ep, installed))
    if not errors:
        inst = docker_installed() if installed is None else installed
        if not inst:
            raise DockerNotInstalled("Docker is not installed",
                                     fix="install Docker Desktop (macOS/Windows) or Docker Engine (Linux), then retry")
        raise DockerNotRunning("Docker is installed but no engine socket was found",
                               fix="start Docker (Docker Desktop, 'colima start' or 'sudo systemctl start docker')")
    rank = (DockerPermissionDenied, DockerWrongContext, DockerNotRunning, DockerNotInstalled)
    errors.sort(key=lambda e: next(i for i, t in enumerate(rank) if isinstance(e, t)) if isinstance(e, rank) else 9)
    raise errors[0]


def wait_for_engine(timeout: float = 60.0, interval: float = 1.0, **kw) -> tuple[docker.DockerClient, Endpoint]:
    """Poll :func:`connect` until it succeeds or ``timeout`` passes (then re-raise the last error)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect(**kw)
        except DockerUnavailable as e:
            if not e.retry or time.monotonic() >= deadline:
                raise
        time.sleep(interval)


# --- starting the engine --------------------------------------------------------------------------------
Runner = Callable[[Sequence[str]], int]


def _run(cmd: Sequence[str], log_path: Path | None = None) -> int:
    """Run one start command with the extended PATH (GUI apps lack Homebrew/Docker Desktop folders).

    With ``log_path`` its output is appended there (lesson 10: keep the start attempt for diagnosis)."""
    out = None
    try:
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(log_path, "ab")  # noqa: SIM115 - closed below
            out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} $ {' '.join(cmd)}\n".encode())
            out.flush()
        sink = out if out is not None else subprocess.DEVNULL
        rc = subprocess.run(list(cmd), stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT if out else sink,
                            timeout=60, check=False, env=tool_env()).returncode
    except (OSError, subprocess.TimeoutExpired) as e:
        rc = 127
        if out is not None:
            out.write(f"failed to run: {type(e).__name__}: {e}\n".encode())
    if out is not None:
        out.write(f"=== exit code {rc}\n".encode())
        out.close()
    return rc


def logged_runner(log_path: Path) -> Runner:
    """A start-command runner that keeps each attempt's output in ``log_path`` (e.g. <logs>/docker-start.log)."""
    return lambda cmd: _run(cmd, Path(log_path))


def start_commands(platform: str | None = None, home: Path | None = None) -> list[list[str]]:
    """Commands that may start the engine on this OS, in the order they are tried."""
    platform = platform or sys.platform
    h = _home(home)
    cmds: list[list[str]] = []
    if find_tool("colima") and (h / ".colima").exists():
        cmds.append(["colima", "start"])
    if find_tool("docker"):
        cmds.append(["docker", "desktop", "start"])  # Docker Desktop >= 4.37, all OSes
    if platform == "darwin":
        cmds.append(["open", "-a", "Docker"])
    elif platform.startswith("win"):
        exe = Path(os.environ.get("ProgramFiles", r"C:\Program Files")) / "Docker" / "Docker" / "Docker Desktop.exe"
        cmds.append(["cmd", "/c", "start", "", str(exe)])
    elif shutil.which("systemctl"):
        cmds.append(["systemctl", "--user", "start", "docker-desktop"])
        cmds.append(["systemctl", "--user", "start", "docker"])        # rootless
        cmds.append(["systemctl", "--no-ask-password", "start", "docker"])  # system service (root or polkit)
    return cmds


def start_engine(timeout: float = 90.0, runner: Runner = _run, platform: str | None = None,
                 **connect_kw) -> tuple[docker.DockerClient, Endpoint]:
    """Try each start command until the engine answers; raise the last DockerUnavailable after ``timeout``."""
    try:
        return connect(**connect_kw)
    except DockerUnavailable as e:
        if isinstance(e, (DockerNotInstalled, DockerPermissionDenied)):
            raise
    deadline = time.monotonic() + timeout
    for cmd in start_commands(platform):
        rc = runner(cmd)
        log.info("docker start attempt %s -> %s", " ".join(cmd), rc)
        if rc != 0:
            continue
        try:
            return wait_for_engine(timeout=max(1.0, min(45.0, deadline - time.monotonic())), **connect_kw)
        except DockerUnavailable:
            if time.monotonic() >= deadline:
                break
    return wait_for_engine(timeout=max(0.5, deadline - time.monotonic()), **connect_kw)


def start_engine_logged(log_path: Path, disk_path: Path | None = None, need_bytes: int = 0,
                        **kw) -> tuple[docker.DockerClient, Endpoint]:
    """:func:`start_engine` for the agent: free disk checked first (lesson 7: a near-full disk bricks Docker
    Desktop's backend; raises DiskError ``disk_low`` before any attempt) and every start attempt's output kept
    in ``log_path`` (lesson 10)."""
    if disk_path is not None:
        from ..diskspace import require_free

        require_free(disk_path, need_bytes, "starting Docker")
    return start_engine(runner=logged_runner(log_path), **kw)
