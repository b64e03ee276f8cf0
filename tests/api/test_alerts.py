"""Alerts fire once per episode; the webhook gets a Discord-compatible POST (real HTTP server on loopback)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from tests.risky_states import risky_states
from tray_agent.common.status import Alert, Status, WorkerState
from tray_agent.core.alerts import AlertWatcher, post_webhook
from tray_agent.core.events import EventBus


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _watcher(settings=None):
    bus, clock = EventBus(), Clock()
    sid, q = bus.subscribe({"notify"})
    w = AlertWatcher(bus, lambda: {"offline_alert_minutes": 5, **(settings or {})}, clock)
    return w, clock, q


def test_offline_after_n_minutes_then_back_online_once():
    w, clock, q = _watcher()
    assert w.observe(Status(state=WorkerState.ONLINE)) == []
    assert [n.kind for n in w.observe(Status(state=WorkerState.STALE))] == ["stale"]  # stale is told at once
    assert q.get_nowait().data["kind"] == "stale"
    clock.t += 299
    assert w.observe(Status(state=WorkerState.STALE)) == []
    clock.t += 2
    kinds = [n.kind for n in w.observe(Status(state=WorkerState.STALE, message="gateway not connected"))]
    assert kinds == ["offline"]
    clock.t += 600
    assert w.observe(Status(state=WorkerState.STALE)) == []  # once per episode
    assert [n.kind for n in w.observe(Status(state=WorkerState.ONLINE))] == ["online"]


def test_pause_is_not_offline():
    w, clock, _ = _watcher()
    w.observe(Status(state=WorkerState.ONLINE))
    w.observe(Status(state=WorkerState.PAUSED))
    clock.t += 3600
    assert w.observe(Status(state=WorkerState.PAUSED)) == []


def test_flags_fire_when_raised_and_slash_detected():
    w, clock, _ = _watcher()
    base = Status(state=WorkerState.ONLINE, registered=True, stake_wei=5000)
    w.observe(base)
    out = w.observe(base.evolve(alerts=(Alert.LOW_GAS, Alert.EARNINGS_READY)))
    assert {n.kind for n in out} == {"low_gas", "earnings_ready"}
    assert w.observe(base.evolve(alerts=(Alert.LOW_GAS, Alert.EARNINGS_READY))) == []
    out = w.observe(base.evolve(stake_wei=4000, alerts=(Alert.LOW_GAS,)))
    assert [n.kind for n in out] == ["slashed"]


def test_low_gas_alerts_can_be_turned_off():
    w, _, _ = _watcher({"low_gas_alerts": False})
    assert w.observe(Status(state=WorkerState.ONLINE, alerts=(Alert.LOW_GAS,))) == []


def test_webhook_post_reaches_a_real_server():
    got = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        from tray_agent.core.alerts import Notification

        assert post_webhook(f"http://127.0.0.1:{srv.server_port}/hook", Notification("offline", "Worker offline", "x"))
        assert got and "Worker offline" in got[0]["content"] and got[0]["lcai"]["kind"] == "offline"
        assert not post_webhook("http://127.0.0.1:9/nothing", Notification("a", "b", "c"), timeout=1)
    finally:
        srv.shutdown()


def test_each_risky_state_notifies_once_with_its_date_or_amount():
    online, rows = risky_states(1_800_000_000.0)
    assert "2027-01-15 11:00 UTC" in rows["suspended"][1]
    for kind, (st, words) in rows.items():
        w, _, q = _watcher()
        assert w.observe(online) == []
        out = [n for n in w.observe(st) if n.kind == kind]
        assert len(out) == 1, (kind, w.sent)
        text = f"{out[0].title} {out[0].message}"
        assert words in text and out[0].level in ("warning", "error"), (kind, text)
        assert w.observe(st) == []  # once per episode
