"""The one owner of the agent's facts (the controller pattern of myst-launcher).

Every part that learns something (the supervisor, the chain refresh, key custody, the operation runner) reports
it here; one thread applies the reports in order, derives the Status with ``derive_status`` and publishes it when
it changed. Nothing else holds or writes agent state, so two reports in the same tick can never overwrite each
other's meaning (a locked keychain stays an error whatever the supervisor says next).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from tray_agent.common.status import Status

from .events import EventBus
from .facts import Facts, derive_status

log = logging.getLogger(__name__)
Change = Callable[[Facts], Facts]


class StateOwner:
    """Applies fact changes on its own thread, in the order they were reported."""

    def __init__(self, bus: EventBus, facts: Facts):
        self._bus = bus
        self._facts = facts
        self._status = derive_status(facts)
        self._q: queue.SimpleQueue[tuple[Change, threading.Event | None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="state-owner", daemon=True)
        self._thread.start()

    # --- reading (any thread) ----------------------------------------------------------------------------
    @property
    def facts(self) -> Facts:
        return self._facts

    def status(self) -> Status:
        return self._status

    # --- reporting (any thread) --------------------------------------------------------------------------
    def report(self, wait: bool = False, **changes: Any) -> None:
        """Replace these fact fields. ``wait=True`` returns once the new Status is derived and published."""
        self.apply(lambda f: f.with_(**changes), wait=wait)

    def apply(self, change: Change, wait: bool = False) -> None:
        if threading.current_thread() is self._thread:
            self._apply(change)
            return
        done = threading.Event() if wait else None
        self._q.put((change, done))
        if done is not None:
            done.wait(10.0)

    def notify(self, data: dict[str, Any]) -> None:
        """A notification for the tray, the dashboard and the webhook (an event, not state)."""
        self._bus.publish("notify", data)

    def close(self) -> None:
        self._q.put(None)

    # --- the owner thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            change, done = item
            try:
                self._apply(change)
            except Exception:  # a bad report must never stop the owner
                log.exception("state change failed")
            finally:
                if done is not None:
                    done.set()

    def _apply(self, change: Change) -> None:
        facts = change(self._facts)
        if facts is self._facts:
            return
        self._facts = facts
        new = derive_status(facts)
        old = self._status
        if new.evolve(updated_at=old.updated_at) == old:
            return
        self._status = new
        self._bus.publish("status", new.to_dict())
