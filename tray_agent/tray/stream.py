"""Follow the agent's status over its event stream, reconnecting (and re-reading api.json) when it drops."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from tray_agent.common.api_client import ApiClient, ApiError
from tray_agent.common.status import Status

log = logging.getLogger(__name__)


class StatusStream:
    """Background thread: follow ``/api/events`` and reconnect (re-reading api.json) when it drops.

    Callbacks run on the stream thread; the tray hands them to its dispatcher.
    """

    def __init__(self, api_file: Path, on_status: Callable[[Status], None],
                 on_disconnect: Callable[[str], None] | None = None,
                 on_event: Callable[[str, dict], None] | None = None, retry_s: float = 2.0):
        self.api_file, self.on_status, self.on_disconnect, self.on_event = api_file, on_status, on_disconnect, on_event
        self.retry_s = retry_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="status-stream")
        self.client: ApiClient | None = None

    def start(self) -> StatusStream:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            client = ApiClient.from_api_file(self.api_file)
            reason = "the agent is not running"
            if client is not None:
                self.client = client
                try:
                    # initial snapshot first, so the icon updates even before the first event arrives
                    self.on_status(client.status())
                    for event, data in client.events(self._stop):
                        if event == "status":
                            self.on_status(Status.from_dict(data))
                        elif self.on_event:
                            self.on_event(event, data)
                    reason = "the agent closed the connection"
                except ApiError as e:
                    reason = e.message
                except Exception as e:  # a callback failed: keep the stream alive
                    log.exception("status stream callback failed")
                    reason = str(e)
            if self._stop.is_set():
                return
            if self.on_disconnect:
                self.on_disconnect(reason)
            self._stop.wait(self.retry_s)
