"""Wait until the worker runs no job before stopping it (toolkit.md §11, §12): pure, clock injected.

A stop cancels in-flight jobs in sortition mode and each cancelled job later times out as an offence, so every
path that stops or recreates the container first waits for ``worker_active_jobs == 0``. An unreadable metric
(``None``) counts as busy: the worker may be running jobs we cannot see.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tray_agent.common.errors import AgentError

Progress = Callable[[str, "float | None"], None]


class DrainCancelled(AgentError):
    """The caller cancelled the wait; the worker was left running."""

    code = "drain_cancelled"


@dataclass(frozen=True)
class DrainResult:
    idle: bool           # True: no job was running when the wait ended
    busy: int | None     # jobs still running at the end (None: metrics unreadable), 0 when idle
    waited_s: float


def describe(n: int | None) -> str:
    if n is None:
        return "the worker's job count cannot be read"
    return f"{n} running job{'s' if n != 1 else ''}"


def wait_idle(active_jobs: Callable[[], int | None], timeout: float, *, what: str = "stopping the worker",
              on_progress: Progress | None = None, cancel: threading.Event | None = None, poll: float = 1.0,
              clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] | None = None
              ) -> DrainResult:
    """Poll ``active_jobs()`` until it is 0 or ``timeout`` s passed. Raises DrainCancelled when ``cancel`` is set.

    ``on_progress(message, fraction_of_timeout)`` is called when the count changes and about every 10 s.
    """
    t0 = clock()
    wait = sleep or (cancel.wait if cancel is not None else time.sleep)
    last: tuple[int | None, int] | None = None
    while True:
        if cancel is not None and cancel.is_set():
            raise DrainCancelled(f"cancelled while waiting for {describe(active_jobs())} to finish",
                                 fix="the worker keeps running; try again later or stop it now")
        n = active_jobs()
        elapsed = clock() - t0
        if n == 0:
            return DrainResult(True, 0, elapsed)
        if elapsed >= timeout:
            return DrainResult(False, n, elapsed)
        mark = (n, int(elapsed // 10))
        if on_progress is not None and mark != last:
            left = int(timeout - elapsed)
            on_progress(f"waiting for {describe(n)} to finish before {what} (at most {left} s more)",
                        min(1.0, elapsed / timeout) if timeout > 0 else None)
        last = mark
        wait(max(0.01, min(poll, timeout - elapsed)))
