"""The Docker events watcher's event handling (the streaming itself runs against a real dockerd in
test_supervisor.py::test_dockerd_restart_watcher_reconnects)."""

from __future__ import annotations

from tray_agent.core.runtime.events import DockerEventWatcher


def ev(action: str, name: str = "w", nano: int = 1, cid: str = "c1") -> dict:
    return {"Action": action, "timeNano": nano, "Actor": {"ID": cid, "Attributes": {"name": name}}}


def make():
    seen, wakes = [], []
    w = DockerEventWatcher(lambda: None, lambda a, n: seen.append((a, n)), lambda: wakes.append(1))
    return w, seen, wakes


def test_events_reported_once_and_wake_the_supervisor():
    w, seen, wakes = make()
    w.feed(ev("die", nano=1))
    w.feed(ev("die", nano=1))  # replayed by since= after a reconnect
    w.feed(ev("start", nano=2))
    assert seen == [("die", "w"), ("start", "w")] and w.events_seen == 2 and len(wakes) == 2


def test_quiet_events_do_not_wake_and_handler_errors_are_contained():
    seen, wakes = [], []

    def boom(a, n):
        seen.append(a)
        raise RuntimeError("subscriber bug")
    w = DockerEventWatcher(lambda: None, boom, lambda: wakes.append(1))
    w.feed(ev("exec_start", nano=3))
    w.feed(ev("oom", nano=4))
    assert seen == ["exec_start", "oom"] and len(wakes) == 1
