"""One place through which every pystray call runs.

macOS requires status-item changes on the main thread (macOS 26+ traps otherwise), so there calls go to
the main run loop via PyObjC's ``AppHelper.callAfter``. Elsewhere one serial "tray-ui" thread applies them
in order (pystray's GTK backends marshal into GLib themselves; xorg and win32 are fine from one thread).
``submit_latest`` coalesces bursts: only the newest pending call per key runs.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_STOP = object()


class Dispatcher:
    """Serial executor for UI calls; exceptions are logged, never propagated to the caller."""

    def __init__(self, use_main_runloop: bool | None = None):
        self._main = sys.platform == "darwin" if use_main_runloop is None else use_main_runloop
        self._q: queue.Queue = queue.Queue()
        self._latest: dict[str, Callable[[], None]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.ui_thread_ident: int | None = None
        if not self._main:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="tray-ui")
            self._thread.start()

    def submit(self, fn: Callable, *args, **kwargs) -> None:
        """Run ``fn(*args, **kwargs)`` on the UI thread, after everything submitted before."""
        self._post(lambda: fn(*args, **kwargs))

    def submit_latest(self, key: str, fn: Callable, *args, **kwargs) -> None:
        """Like submit, but a newer call with the same key replaces a pending older one."""
        with self._lock:
            pending = key in self._latest
            self._latest[key] = lambda: fn(*args, **kwargs)
        if not pending:
            self._post(lambda: self._run_latest(key))

    def _run_latest(self, key: str) -> None:
        with self._lock:
            fn = self._latest.pop(key, None)
        if fn:
            fn()

    def _post(self, call: Callable[[], None]) -> None:
        if self._main:
            from PyObjCTools import AppHelper  # type: ignore[import-not-found]  # macOS only

            AppHelper.callAfter(self._safe, call)
        else:
            self._q.put(call)

    @staticmethod
    def _safe(call: Callable[[], None]) -> None:
        try:
            call()
        except Exception:
            log.exception("tray UI call failed")

    def _loop(self) -> None:
        self.ui_thread_ident = threading.get_ident()
        while True:
            call = self._q.get()
            if call is _STOP:
                return
            self._safe(call)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything submitted so far has run (tests, shutdown)."""
        done = threading.Event()
        self._post(done.set)
        return done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._q.put(_STOP)
            self._thread.join(timeout)
