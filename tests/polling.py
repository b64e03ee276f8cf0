"""One polling helper for every test and benchmark: wait until a condition holds (a liveness bound, not a timer)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def poll(pred: Callable[[], Any], timeout: float, interval: float = 0.1) -> tuple[bool, Any]:
    """Call ``pred`` until it returns something truthy or ``timeout`` passes: (reached, last value)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return True, last
        if time.monotonic() >= deadline:
            return False, last
        time.sleep(interval)


def wait_for(pred: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> Any:
    """The truthy value of ``pred``; AssertionError naming ``what`` (and the last value) after ``timeout``."""
    ok, last = poll(pred, timeout, interval)
    if not ok:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; last={last!r}")
    return last
