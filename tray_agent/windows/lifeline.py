"""A window child process ends with the process that opened it, also when that one is killed with SIGKILL.

Linux: ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` asks the kernel to signal us when the opener goes away.
Elsewhere: a thread watches the opener (POSIX: we are re-parented; Windows: the pid is gone or reused —
checked through psutil, never with ``os.kill``, which terminates a process on Windows).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1


def _set_pdeathsig() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0
    except (OSError, AttributeError) as e:
        log.debug("prctl(PR_SET_PDEATHSIG) unavailable: %s", e)
        return False


def _opener_alive(parent: int, created: float | None) -> bool:
    if os.name == "posix":
        return os.getppid() == parent  # re-parented to init/a subreaper once the opener is gone
    try:
        import psutil

        p = psutil.Process(parent)
        return created is None or abs(p.create_time() - created) < 1.0
    except Exception:
        return False


def _create_time(pid: int) -> float | None:
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:
        return None


def hold(parent: int, on_gone: Callable[[], None] | None = None, interval_s: float = 0.5) -> str:
    """Tie this process to ``parent``; returns how ("pdeathsig", "watch" or "gone" when it already died)."""
    exit_now = on_gone or (lambda: os._exit(0))
    if parent <= 0:
        return "none"
    created = None if os.name == "posix" else _create_time(parent)
    how = "pdeathsig" if sys.platform.startswith("linux") and _set_pdeathsig() else "watch"
    if not _opener_alive(parent, created):  # the opener died before the lifeline was in place
        exit_now()
        return "gone"
    if how == "watch":
        def watch() -> None:
            stop = threading.Event()
            while not stop.wait(interval_s):
                if not _opener_alive(parent, created):
                    log.info("the process that opened this window is gone: closing")
                    exit_now()
                    return
        threading.Thread(target=watch, daemon=True, name="lifeline").start()
    return how
