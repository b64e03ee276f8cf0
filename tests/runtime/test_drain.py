"""drain.wait_idle with an injected clock: idle, timeout, unreadable = busy, progress, cancel (no Docker)."""

from __future__ import annotations

import threading

import pytest

from tray_agent.core.runtime.drain import DrainCancelled, wait_idle


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def counts(*values):
    it = iter(values)
    last = [values[-1]]

    def read():
        last[0] = next(it, last[0])
        return last[0]
    return read


def test_returns_at_once_when_idle():
    clk = Clock()
    r = wait_idle(counts(0), 100, clock=clk, sleep=clk.sleep)
    assert r.idle and r.busy == 0 and r.waited_s == 0


def test_waits_until_jobs_finish():
    clk = Clock()
    r = wait_idle(counts(2, 2, 1, 0), 100, poll=1.0, clock=clk, sleep=clk.sleep)
    assert r.idle and r.waited_s == 3.0


def test_unreadable_metrics_count_as_busy_until_timeout():
    clk = Clock()
    r = wait_idle(counts(None), 10, poll=1.0, clock=clk, sleep=clk.sleep)
    assert not r.idle and r.busy is None and r.waited_s >= 10


def test_timeout_reports_the_jobs_still_running():
    clk = Clock()
    r = wait_idle(counts(1), 5, poll=2.0, clock=clk, sleep=clk.sleep)
    assert not r.idle and r.busy == 1 and 5 <= r.waited_s < 7


def test_zero_timeout_does_not_wait():
    clk = Clock()
    r = wait_idle(counts(3), 0, clock=clk, sleep=clk.sleep)
    assert not r.idle and r.busy == 3 and clk.t == 0


def test_progress_names_the_jobs_and_the_operation():
    clk = Clock()
    seen: list[tuple[str, float | None]] = []
    wait_idle(counts(2, 2, 1, 0), 100, what="restarting the worker", on_progress=lambda m, f: seen.append((m, f)),
              clock=clk, sleep=clk.sleep)
    msgs = [m for m, _ in seen]
    assert msgs[0].startswith("waiting for 2 running jobs to finish before restarting the worker")
    assert any("1 running job to finish" in m for m in msgs)
    assert all(0.0 <= f <= 1.0 for _, f in seen)


def test_cancel_raises_and_says_what_runs():
    clk = Clock()
    cancel = threading.Event()

    def sleep(s):
        clk.sleep(s)
        cancel.set()
    with pytest.raises(DrainCancelled) as ei:
        wait_idle(counts(1), 100, cancel=cancel, clock=clk, sleep=sleep)
    assert "1 running job" in ei.value.message and ei.value.fix
