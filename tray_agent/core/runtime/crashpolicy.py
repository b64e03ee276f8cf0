"""Crash-loop detection and exponential backoff (pure; the clock is injected).

A death the supervisor did not cause (a Docker ``die`` event outside an expected stop) is recorded; at
``threshold`` deaths within ``window`` s the worker is in a crash loop and is held stopped for
``base * 2**level`` s (at most ``max_delay``). The level resets once the worker stayed up for ``window`` s.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class CrashPolicy:
    def __init__(self, window: float = 120.0, threshold: int = 4, base: float = 15.0, max_delay: float = 600.0,
                 clock: Callable[[], float] = time.time):
        self.window, self.threshold, self.base, self.max_delay = window, threshold, base, max_delay
        self.clock = clock
        self.level = 0
        self.error = ""
        self._deaths: deque[float] = deque(maxlen=64)
        self._expect_until = 0.0
        self._until = 0.0

    def expect_stop(self, grace: float) -> None:
        """The supervisor is about to stop the worker: a death in the next ``grace + 5`` s is not a crash."""
        self._expect_until = self.clock() + grace + 5

    def clear_expected(self) -> None:
        self._expect_until = 0.0

    def on_death(self) -> bool:
        """A ``die`` event; returns whether it counts as a crash."""
        now = self.clock()
        if now <= self._expect_until:
            return False
        self._deaths.append(now)
        return True

    def in_loop(self) -> bool:
        now = self.clock()
        return sum(1 for t in self._deaths if now - t <= self.window) >= self.threshold

    def enter_backoff(self, error: str) -> float:
        """Start a backoff period; returns its length in seconds."""
        delay = min(self.max_delay, self.base * (2 ** self.level))
        self.level += 1
        self._deaths.clear()
        self.error = error
        self._until = self.clock() + delay
        self.expect_stop(10)
        return delay

    def backoff_left(self) -> float:
        return max(0.0, self._until - self.clock())

    def clear_backoff(self) -> None:
        """The user asked to start/restart: try at once."""
        self._until = 0.0

    def note_connected(self, started_at: float) -> None:
        """The worker is online; after a full window up, forget earlier backoffs."""
        if self.clock() - started_at > self.window:
            self.level = 0
