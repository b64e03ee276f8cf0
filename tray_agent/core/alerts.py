"""Turn status changes into notifications (tray) and optional webhook posts (Discord-compatible JSON).

Alerts: offline longer than N minutes, back online, stale, Docker down, low gas, slash / suspension,
earnings ready to settle, crash loop. Each fires once per episode, not on every refresh.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from tray_agent.common.status import Alert, Status, WorkerState

from .events import EventBus

log = logging.getLogger(__name__)

OFFLINE_STATES = {WorkerState.STALE, WorkerState.DOCKER_DOWN, WorkerState.DOCKER_MISSING, WorkerState.ERROR,
                  WorkerState.STARTING}
FLAG_TEXT = {
    Alert.LOW_GAS: ("Low gas", "The worker wallet is low on LCAI for gas; send some LCAI to keep it working.", "warning"),
    Alert.EARNINGS_READY: ("Earnings ready", "Earnings are waiting in the contract: Settle earnings to move them.", "info"),
    Alert.SLASHED: ("Stake slashed", "The worker's stake went down (slash). Check the dashboard.", "error"),
    Alert.SUSPENDED: ("Worker suspended", "The worker is suspended; Reinstate after the cooldown.", "error"),
    Alert.CRASH_LOOP: ("Worker keeps crashing", "The worker container keeps crashing; the watchdog backs off.", "error"),
    Alert.STUCK_JOBS: ("Stuck jobs", "Some jobs are stuck past their deadline: Clear stuck jobs.", "warning"),
    Alert.UNDERSTAKED: ("Stake below the minimum", "The network does not select this worker: Top up the stake.",
                        "error"),
    Alert.PAUSED_WITH_SESSIONS: ("Paused while registered", "Jobs sent to this worker time out and count as "
                                 "offences: start it again, or Deregister to leave.", "warning"),
}


@dataclass
class Notification:
    kind: str
    title: str
    message: str
    level: str = "info"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "title": self.title, "message": self.message, "level": self.level}


class AlertWatcher:
    """Watches Status snapshots; publishes ``notify`` events and posts to the webhook."""

    def __init__(self, bus: EventBus, settings: Callable[[], dict], clock: Callable[[], float] = time.time):
        self.bus = bus
        self.settings = settings
        self.clock = clock
        self._prev: Status | None = None
        self._offline_since: float | None = None
        self._offline_sent = False
        self._flags: set[Alert] = set()
        self._max_stake = 0
        self.sent: list[Notification] = []

    def observe(self, st: Status) -> list[Notification]:
        """Feed one snapshot; returns the notifications it caused (also published)."""
        out: list[Notification] = []
        now = self.clock()
        prev = self._prev
        minutes = int(self.settings().get("offline_alert_minutes", 10))
        if st.state == WorkerState.ONLINE:
            if self._offline_sent:
                out.append(Notification("online", "Worker back online", "The worker is online again."))
            self._offline_since, self._offline_sent = None, False
        elif st.state in OFFLINE_STATES:
            self._offline_since = self._offline_since or now
            if not self._offline_sent and now - self._offline_since >= minutes * 60:
                self._offline_sent = True
                why = st.message or st.state.label
                out.append(Notification("offline", "Worker offline",
                                        f"The worker has not been online for {minutes} min: {why}", "error"))
        else:  # paused, stopping for an operation, or setup: the user knows, no alert
            self._offline_since, self._offline_sent = None, False
        if prev is not None and prev.state != st.state and st.state in (WorkerState.DOCKER_DOWN, WorkerState.STALE):
            out.append(Notification(st.state.value, st.state.label, st.message or st.state.label, "warning"))
        # stake went down while registered → slash
        if st.registered and st.stake_wei:
            if self._max_stake and st.stake_wei < self._max_stake:
                out.append(Notification("slashed", *FLAG_TEXT[Alert.SLASHED][:2], "error"))
            self._max_stake = st.stake_wei if st.stake_wei >= self._max_stake or not self._max_stake else st.stake_wei
        flags = set(st.alerts)
        for flag in flags - self._flags:
            if flag in FLAG_TEXT and not (flag == Alert.LOW_GAS and not self.settings().get("low_gas_alerts", True)):
                title, msg, level = FLAG_TEXT[flag]
                n = next((x for x in st.notices if x.kind == flag.value), None)
                if n is not None:  # the dashboard's words: the date or amount that matters, and the fix
                    title, msg = n.title, " ".join(t for t in (n.detail, n.action_label and f"Action: {n.action_label}.")
                                                   if t)
                out.append(Notification(flag.value, title, msg, level))
        self._flags = flags
        self._prev = st
        out = list({n.kind: n for n in out}.values())  # one slash, one notification: the notice's words win
        for n in out:
            self._emit(n)
        return out

    def emit(self, kind: str, title: str, message: str, level: str = "info") -> None:
        """A notification from elsewhere in the agent (e.g. an automatic settle): tray and webhook alike."""
        self._emit(Notification(kind, title, message, level))

    def _emit(self, n: Notification) -> None:
        self.sent.append(n)
        self.bus.publish("notify", n.to_dict())
        url = self.settings().get("webhook_url") or ""
        if url:
            threading.Thread(target=post_webhook, args=(url, n), daemon=True, name="webhook").start()

    def run(self, stop: threading.Event) -> None:
        sid, q = self.bus.subscribe({"status"})
        try:
            while not stop.is_set():
                try:
                    ev = q.get(timeout=1.0)
                except Exception:
                    if self._offline_since and self._prev is not None:
                        self.observe(self._prev)  # time passes while nothing changes
                    continue
                self.observe(Status.from_dict(ev.data))
        finally:
            self.bus.unsubscribe(sid)


def post_webhook(url: str, n: Notification, timeout: float = 5.0) -> bool:
    body = json.dumps({"content": f"**{n.title}** — {n.message}", "username": "lcai-worker-tray",
                       "lcai": n.to_dict()}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json",
                                                                         "User-Agent": "lcai-worker-tray"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return 200 <= r.status < 300
    except Exception as e:  # the URL is never logged (it may hold a secret token)
        log.warning("webhook post failed: %s", type(e).__name__)
        return False
