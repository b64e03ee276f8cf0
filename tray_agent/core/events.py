"""In-process event bus: the agent publishes status/progress/result/notify events; SSE clients subscribe."""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    kind: str  # status | progress | result | notify
    data: dict[str, Any]
    seq: int = 0


@dataclass
class _Sub:
    q: Any
    loop: asyncio.AbstractEventLoop | None = None
    kinds: frozenset[str] = field(default_factory=frozenset)


class EventBus:
    """Thread-safe fan-out. Subscribers get a bounded queue; slow ones drop the oldest events."""

    MAX_QUEUE = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subs: dict[int, _Sub] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._last: dict[str, Event] = {}

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        ev = Event(kind, data, next(self._seq))
        with self._lock:
            self._last[kind] = ev
            subs = list(self._subs.values())
        for s in subs:
            if s.kinds and kind not in s.kinds:
                continue
            if s.loop is not None:
                try:
                    s.loop.call_soon_threadsafe(_put_drop_oldest, s.q, ev)
                except RuntimeError:  # loop closed: the client went away
                    pass
            else:
                _put_drop_oldest(s.q, ev)

    def last(self, kind: str) -> Event | None:
        with self._lock:
            return self._last.get(kind)

    def subscribe(self, kinds: set[str] | None = None) -> tuple[int, queue.Queue]:
        q: queue.Queue = queue.Queue(self.MAX_QUEUE)
        sid = next(self._ids)
        with self._lock:
            self._subs[sid] = _Sub(q, None, frozenset(kinds or ()))
        return sid, q

    def subscribe_async(self, kinds: set[str] | None = None) -> tuple[int, asyncio.Queue]:
        q: asyncio.Queue = asyncio.Queue(self.MAX_QUEUE)
        sid = next(self._ids)
        with self._lock:
            self._subs[sid] = _Sub(q, asyncio.get_running_loop(), frozenset(kinds or ()))
        return sid, q

    def unsubscribe(self, sid: int) -> None:
        with self._lock:
            self._subs.pop(sid, None)


def _put_drop_oldest(q, ev: Event) -> None:
    while True:
        try:
            q.put_nowait(ev)
            return
        except (queue.Full, asyncio.QueueFull):
            try:
                q.get_nowait()
            except (queue.Empty, asyncio.QueueEmpty):
                return
