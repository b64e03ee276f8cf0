"""The ONE-WRITER rule (spec contracts.md §8, toolkit.md §12), in one place.

The running worker container owns the worker key's nonce. Every transaction the app sends from the worker
key goes through a ``WriterGate`` session:

* stop mode (default): wait until ``active_jobs() == 0``, ``pause_worker()``, send, ``resume_worker()``
  (resume always runs, even after an error);
* idle mode (the user refused a stop): before each send wait for ``active_jobs() == 0``, and retry on
  ``nonce too low`` / ``address already reserved`` / underpriced replacement with a fresh nonce.

``TxSender.send`` refuses to run for a gated sender unless the current thread holds the gate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tray_agent.common.words import plural

from .errors import NonceConflict, WriterBusy

T = TypeVar("T")
Progress = Callable[[str, "float | None"], None]


def _no_progress(msg: str, frac: float | None = None) -> None:
    pass


class WriterGate:
    """Serialises app writes from the worker key against the container (and against each other)."""

    def __init__(
        self,
        active_jobs: Callable[[], int] | None = None,
        pause_worker: Callable[[], None] | None = None,
        resume_worker: Callable[[], None] | None = None,
        *,
        stop_allowed: bool = True,
        idle_timeout_s: float = 600.0,
        poll_s: float = 1.0,
        max_retries: int = 5,
        retry_delay_s: float = 2.0,
    ):
        self.active_jobs = active_jobs or (lambda: 0)
        self.pause_worker = pause_worker or (lambda: None)
        self.resume_worker = resume_worker or (lambda: None)
        self.stop_allowed = stop_allowed
        self.idle_timeout_s = idle_timeout_s
        self.poll_s = poll_s
        self.max_retries = max_retries
        self.retry_delay_s = retry_delay_s
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0
        self.retries = 0  # nonce-conflict retries performed (diagnostics / tests)

    # ---- rule enforcement ----
    def held(self) -> bool:
        return self._owner == threading.get_ident()

    def assert_held(self) -> None:
        if not self.held():
            raise RuntimeError("worker-key transactions must be sent inside WriterGate.session()")

    def wait_idle(self, progress: Progress = _no_progress) -> None:
        deadline = time.monotonic() + self.idle_timeout_s
        first = True
        while True:
            n = int(self.active_jobs())
            if n <= 0:
                return
            if first:
                progress(f"waiting for {plural(n, 'active job')} to finish before sending", None)
                first = False
            if time.monotonic() >= deadline:
                raise WriterBusy(
                    f"the worker still had {plural(n, 'active job')} after {self.idle_timeout_s:.0f} s",
                    fix="retry when the worker is idle (nothing was sent)",
                )
            time.sleep(self.poll_s)

    @contextmanager
    def session(self, progress: Progress = _no_progress) -> Iterator[WriterGate]:
        """Exclusive write session. Re-entrant in the same thread (nested ops share one pause)."""
        with self._lock:
            outer = self._depth == 0
            self._depth += 1
            self._owner = threading.get_ident()
            paused = False
            try:
                if outer and self.stop_allowed:
                    self.wait_idle(progress)
                    progress("pausing the worker to send", None)
                    self.pause_worker()
                    paused = True
                yield self
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                if paused:
                    progress("resuming the worker", None)
                    self.resume_worker()

    def send(self, fn: Callable[[], T], progress: Progress = _no_progress) -> T:
        """Run one sending callable inside the session; in idle mode wait for idle and retry nonce conflicts."""
        self.assert_held()
        attempt = 0
        while True:
            if not self.stop_allowed:
                self.wait_idle(progress)
            try:
                return fn()
            except NonceConflict:
                if self.stop_allowed and self.max_retries == 0:
                    raise
                attempt += 1
                if attempt > self.max_retries:
                    raise
                self.retries += 1
                progress(f"another transaction is pending; retrying ({attempt}/{self.max_retries})", None)
                time.sleep(self.retry_delay_s)
