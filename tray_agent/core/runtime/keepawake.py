"""Keep the machine awake while the worker starts or runs (wakepy ``keep.running``), never crashing.

The mode is entered and left on one dedicated thread (the Windows flag is per thread). When no method works
(headless, no D-Bus, unsupported desktop) ``active`` is False and ``reason`` says why; the ``on_fail`` callable
replaces wakepy's default warning.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class KeepAwake:
    """``acquire()`` / ``release()`` are idempotent; ``on_change(active, reason)`` fires on every change."""

    def __init__(self, on_change: Callable[[bool, str], None] | None = None, enabled: bool = True):
        self.enabled = enabled
        self.on_change = on_change
        self.active = False
        self.method = ""
        self.reason = "" if enabled else "keep-awake turned off"
        self.available = True  # False once entering keep-awake found no working method on this system
        self._thread: threading.Thread | None = None
        self._release = threading.Event()
        self._entered = threading.Event()
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def acquire(self, timeout: float = 5.0) -> bool:
        """Enter keep.running on the keeper thread; returns whether a method is active."""
        with self._lock:
            if not self.enabled or self.held:
                return self.active
            self._release.clear()
            self._entered.clear()
            self._thread = threading.Thread(target=self._hold, name="keep-awake", daemon=True)
            self._thread.start()
        self._entered.wait(timeout)
        return self.active

    def release(self, timeout: float = 5.0) -> None:
        with self._lock:
            t = self._thread
            self._thread = None
        if t is not None:
            self._release.set()
            t.join(timeout)
        if self.active or self.method:
            self._set(False, "", self.reason if not self.active else "released (worker stopped or paused)")

    def _set(self, active: bool, method: str, reason: str) -> None:
        if active:
            self.available = True
        elif reason.startswith("keep-awake unavailable"):
            self.available = False
        changed = (active, reason) != (self.active, self.reason)
        self.active, self.method, self.reason = active, method, reason
        if changed and self.on_change:
            try:
                self.on_change(active, reason)
            except Exception:  # a subscriber bug must not kill the keeper thread
                log.exception("keep-awake on_change failed")

    def _hold(self) -> None:
        failure: list[str] = []

        def on_fail(result) -> None:
            failure.append(_describe(result))

        try:
            from wakepy import keep
        except Exception as e:  # not installed / broken on this OS
            self._set(False, "", f"keep-awake unavailable: wakepy cannot be loaded ({type(e).__name__})")
            self._entered.set()
            return
        try:
            with keep.running(on_fail=on_fail) as mode:
                if mode.active:
                    self._set(True, str(mode.active_method or ""), f"kept awake via {mode.active_method}")
                else:
                    self._set(False, "", "keep-awake unavailable: " + (failure[0] if failure else "no method works"))
                self._entered.set()
                self._release.wait()
        except Exception as e:  # wakepy must never take the agent down
            self._set(False, "", f"keep-awake unavailable: {type(e).__name__}: {e}")
        finally:
            self._entered.set()


def _describe(result) -> str:
    """A short human reason from a wakepy ActivationResult."""
    try:
        fails = result.query(success=(False,))
        reasons = [x for x in (_short(str(r.failure_reason)) for r in fails if r.failure_reason) if x]
        uniq = list(dict.fromkeys(reasons))[:2]
        return "; ".join(uniq) or "no keep-awake method works on this system"
    except Exception:
        return "no keep-awake method works on this system"


def _short(text: str) -> str:
    if "DBUS_SESSION_BUS_ADDRESS is not set" in text:
        return "no desktop session bus (headless or SSH login)"
    if "ServiceUnknown" in text or "was not provided by any .service" in text:
        return "no power manager on the session bus"
    if "not supported on" in text:
        return ""
    return text[:120]
