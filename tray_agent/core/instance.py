"""Single instance per profile: an OS lock on ``paths.lock_file`` that also holds the owner's pid and API info.

The lock dies with the process (flock / msvcrt), so a crash never leaves a stale "running" instance. A second
launch gets :class:`RunningInstance` with the first instance's pid and API port (its token stays in
``paths.api_file``, mode 0600).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from tray_agent.common.errors import AgentError
from tray_agent.common.paths import Paths

_LOCK_OFFSET = 1 << 20  # Windows: lock a byte far past the JSON so readers can still read it


class RunningInstance(AgentError):
    """Raised by :meth:`InstanceLock.acquire` when another process owns the profile: ``pid``, ``port``, ``info``."""

    code = "already_running"

    def __init__(self, info: dict[str, Any]):
        port = info.get("port")
        super().__init__(
            f"the agent is already running for this profile (pid {info.get('pid', '?')}"
            + (f", local API on port {port}" if port else "") + ")",
            fix="use the running instance (its tray icon or local API), or stop it first",
        )
        self.info = info
        self.pid: int | None = info.get("pid")
        self.port: int | None = port


AlreadyRunning = RunningInstance


def try_lock(fd: int) -> bool:
    """Take an exclusive, non-blocking lock on ``fd`` (False when another process holds it)."""
    if sys.platform.startswith("win"):
        import msvcrt

        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _unlock(fd: int) -> None:
    if sys.platform.startswith("win"):
        import msvcrt

        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        except OSError:
            pass
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


class InstanceLock:
    """``acquire()`` once at start; ``update(port=...)`` when the API is listening; ``release()`` at exit."""

    def __init__(self, paths: Paths):
        self.path: Path = paths.lock_file
        self.fd: int | None = None
        self.info: dict[str, Any] = {}

    def acquire(self, **info: Any) -> InstanceLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not try_lock(fd):
            os.close(fd)
            raise RunningInstance(read_info(self.path) or {})
        self.fd = fd
        self.info = {"pid": os.getpid(), "started": time.time(), **info}
        self._write()
        return self

    def update(self, **info: Any) -> None:
        self.info.update(info)
        self._write()

    def _write(self) -> None:
        assert self.fd is not None, "acquire() first"
        data = json.dumps(self.info).encode()
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.write(self.fd, data)
        os.fsync(self.fd)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
            _unlock(self.fd)
        finally:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> InstanceLock:
        return self if self.fd is not None else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_info(path: Path) -> dict[str, Any] | None:
    try:
        text = Path(path).read_text()
        return json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None


def running_instance(paths: Paths) -> dict[str, Any] | None:
    """Info of the live instance of this profile, or None (no lock holder: any file content is stale)."""
    path = paths.lock_file
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDWR)
    try:
        if try_lock(fd):
            _unlock(fd)
            return None
        return read_info(path) or {}
    finally:
        os.close(fd)
