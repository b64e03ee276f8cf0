"""Devnet child processes die with the agent — also after ``kill -9`` of the agent — and one lock per chain.

- :func:`spawn` starts a child with Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGTERM)`` via ctypes).
  The kernel ties that signal to the *thread* that forked, so every spawn runs on one long-lived daemon thread:
  a child started from a short-lived worker thread would otherwise be killed when that thread ends.
- :func:`watch_parent` runs inside the child: a thread that exits the process when the parent is gone (every
  platform; on Linux it also closes the fork→prctl race).
- :class:`ChainLock` — an OS lock file (flock / msvcrt) holding the owner's pid. It dies with its process, so a
  crash never leaves a stale lock; a second consumer on the same chain sees the holder's pid and stays away.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tray_agent.core.instance import try_lock  # one non-blocking file lock for every single-instance rule

PR_SET_PDEATHSIG = 1


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


class _Spawner:
    """One long-lived thread that forks every devnet child (PDEATHSIG follows the forking thread)."""

    def __init__(self) -> None:
        self._q: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._mu = threading.Lock()

    def _run(self) -> None:
        while True:
            fn, box, done = self._q.get()
            try:
                box["value"] = fn()
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = e
            done.set()

    def call(self, fn: Callable[[], Any]) -> Any:
        with self._mu:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="devnet-spawner", daemon=True)
                self._thread.start()
        box: dict[str, Any] = {}
        done = threading.Event()
        self._q.put((fn, box, done))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["value"]


_spawner = _Spawner()


def spawn(cmd: list[str], **popen_kw: Any) -> subprocess.Popen:
    """``subprocess.Popen`` whose child dies with this process (Linux: parent-death signal)."""
    if sys.platform.startswith("linux"):
        return _spawner.call(lambda: subprocess.Popen(cmd, preexec_fn=_set_pdeathsig, **popen_kw))  # noqa: PLW1509
    return subprocess.Popen(cmd, **popen_kw)


def stop_child(proc: subprocess.Popen | None, grace_s: float = 5.0) -> None:
    """Stop a child this process spawned: SIGTERM, then SIGKILL after ``grace_s``."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(grace_s)


def terminate_leftover(pid: int, marker: str, grace_s: float = 5.0) -> None:
    """Stop a leftover child of an earlier run, but only if its command line names ``marker`` (a reused pid
    must not take an unrelated process down)."""
    import psutil

    try:
        p = psutil.Process(pid)
        if marker not in " ".join(p.cmdline()):
            return
        p.terminate()
        try:
            p.wait(grace_s)
        except psutil.TimeoutExpired:
            p.kill()
            p.wait(grace_s)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.TimeoutExpired):
        pass


def _alive(pid: int, created: float | None) -> bool:
    import psutil

    try:
        p = psutil.Process(pid)
        return p.status() != psutil.STATUS_ZOMBIE and (created is None or abs(p.create_time() - created) < 1)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def watch_parent(parent_pid: int, interval_s: float = 0.5,
                 on_orphan: Callable[[], None] | None = None) -> threading.Thread | None:
    """In the child: exit (``on_orphan``, default ``os._exit(0)``) as soon as ``parent_pid`` is gone."""
    if parent_pid <= 0:
        return None
    import psutil

    try:
        created: float | None = psutil.Process(parent_pid).create_time()
    except psutil.NoSuchProcess:
        created = None
    act = on_orphan or (lambda: os._exit(0))
    if not _alive(parent_pid, created) or (hasattr(os, "getppid") and os.name == "posix"
                                           and os.getppid() != parent_pid):
        act()  # the parent died before we got here (the fork→prctl race)
        return None

    def loop() -> None:
        while True:
            time.sleep(interval_s)
            gone = not _alive(parent_pid, created)
            if os.name == "posix" and os.getppid() != parent_pid:
                gone = True
            if gone:
                act()
                return

    t = threading.Thread(target=loop, name="parent-watch", daemon=True)
    t.start()
    return t


# --- one lock per chain ---------------------------------------------------------------------------------------
def chain_lock_path(lock_dir: Path, chain_id: int, rpc_url: str, role: str = "consumer") -> Path:
    """A lock file per chain (chain id + RPC endpoint: two profiles' anvils share chain id 31337)."""
    tag = hashlib.sha256(rpc_url.encode()).hexdigest()[:10]
    return Path(lock_dir) / f"devnet-{role}-{chain_id}-{tag}.lock"


class ChainLock:
    """``acquire()`` → True when this process now owns the chain; the pid is written into the file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not try_lock(fd):
            os.close(fd)
            return False
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)  # closing the descriptor drops flock / msvcrt locks
            self.fd = None

    def holder(self) -> int | None:
        """Pid of the live process holding the lock, None when it is free (probe only: never keeps it)."""
        if self.fd is not None:
            return os.getpid()
        probe = ChainLock(self.path)
        if probe.acquire():
            probe.release()
            return None
        try:
            return int(self.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return None
