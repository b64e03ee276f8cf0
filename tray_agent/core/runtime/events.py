"""The Docker events watcher: one thread streams ``container`` events of managed containers and reports them.

It reconnects with backoff when the stream ends or dockerd goes away (``since`` replays what was missed; replays
are dropped by event key) and wakes the supervisor after every (re)connect so it resyncs at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import docker

from . import docker_engine
from . import worker_container as wc

log = logging.getLogger(__name__)

WAKE_ACTIONS = ("die", "start", "stop", "destroy", "kill", "oom", "create")


class DockerEventWatcher:
    """``on_event(action, container_name)`` per new event; ``wake()`` after (re)connects and wake-worthy events."""

    def __init__(self, endpoint: Callable[[], docker_engine.Endpoint | None],
                 on_event: Callable[[str, str], None], wake: Callable[[], None], *, backoff_max: float = 5.0):
        self.endpoint = endpoint
        self.on_event = on_event
        self.wake = wake
        self.backoff_max = backoff_max
        self.connected = False
        self.reconnects = 0
        self.events_seen = 0
        self._seen: deque[tuple] = deque(maxlen=256)
        self._stream = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> DockerEventWatcher:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="docker-events", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        with contextlib.suppress(Exception):
            if self._stream is not None:
                self._stream.close()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        delay, since, first = 0.2, None, True
        while not self._stopping.is_set():
            ep = self.endpoint()
            if ep is None:
                self._stopping.wait(0.2)
                continue
            client = None
            try:
                client = docker.DockerClient(base_url=ep.url, timeout=30, version="auto")
                stream = client.events(decode=True, since=since,
                                       filters={"type": "container", "label": f"{wc.LABEL_MANAGED}=1"})
                self._stream = stream
                self.connected = True
                if not first:
                    self.reconnects += 1
                    log.info("docker events stream reconnected (%d)", self.reconnects)
                first, delay = False, 0.2
                self.wake()  # resync after (re)connecting
                for ev in stream:
                    since = max(since or 0, int(ev.get("time", time.time())))
                    self.feed(ev)
                    if self._stopping.is_set():
                        break
            except Exception as e:  # stream ended or dockerd gone: reconnect with backoff
                log.debug("docker events stream error: %s", e)
            finally:
                self.connected = False
                self._stream = None
                if client is not None:
                    with contextlib.suppress(Exception):
                        client.close()
            if self._stopping.is_set():
                break
            since = since or int(time.time()) - 1
            self.wake()
            self._stopping.wait(delay)
            delay = min(self.backoff_max, delay * 2)

    def feed(self, ev: dict) -> None:
        """Handle one decoded event (replays after a reconnect are ignored)."""
        key = (ev.get("timeNano"), (ev.get("Actor") or {}).get("ID") or ev.get("id"), ev.get("Action"))
        if key in self._seen:
            return
        self._seen.append(key)
        self.events_seen += 1
        action = ev.get("Action") or ev.get("status") or ""
        name = ((ev.get("Actor") or {}).get("Attributes") or {}).get("name", "")
        try:
            self.on_event(action, name)
        except Exception:
            log.exception("docker event handler failed")
        if action in WAKE_ACTIONS:
            self.wake()
