"""All pystray calls run on one dispatcher thread, in order; bursts coalesce; failures never escape."""

from __future__ import annotations

import threading

from tray_agent.tray.dispatcher import Dispatcher


def test_calls_run_in_order_on_one_thread():
    d = Dispatcher(use_main_runloop=False)
    seen, threads = [], set()
    for i in range(50):
        d.submit(lambda i=i: (seen.append(i), threads.add(threading.get_ident())))
    assert d.flush()
    assert seen == list(range(50))
    assert threads == {d.ui_thread_ident} and d.ui_thread_ident != threading.get_ident()
    d.close()


def test_submit_latest_coalesces():
    d = Dispatcher(use_main_runloop=False)
    gate = threading.Event()
    d.submit(gate.wait)  # hold the UI thread
    got = []
    for i in range(20):
        d.submit_latest("view", got.append, i)
    gate.set()
    assert d.flush()
    assert got == [19]
    d.close()


def test_exceptions_are_logged_not_raised(caplog):
    d = Dispatcher(use_main_runloop=False)
    d.submit(lambda: 1 / 0)
    ok = []
    d.submit(ok.append, 1)
    assert d.flush() and ok == [1]
    assert "tray UI call failed" in caplog.text
    d.close()
