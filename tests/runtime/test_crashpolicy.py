"""Crash-loop detection and backoff with an injected clock (no Docker)."""

from __future__ import annotations

from tray_agent.core.runtime.crashpolicy import CrashPolicy


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def policy(clock: Clock) -> CrashPolicy:
    return CrashPolicy(window=60.0, threshold=3, base=10.0, max_delay=35.0, clock=clock)


def test_threshold_deaths_within_window_is_a_loop():
    clk = Clock()
    p = policy(clk)
    for _ in range(2):
        assert p.on_death()
        clk.t += 10
    assert not p.in_loop()
    p.on_death()
    assert p.in_loop()


def test_deaths_spread_over_more_than_the_window_are_not_a_loop():
    clk = Clock()
    p = policy(clk)
    for _ in range(3):
        p.on_death()
        clk.t += 31
    assert not p.in_loop()


def test_expected_stop_is_not_a_crash():
    clk = Clock()
    p = policy(clk)
    p.expect_stop(20)
    clk.t += 24
    assert p.on_death() is False
    clk.t += 2  # grace + 5 s passed
    assert p.on_death() is True
    p.expect_stop(20)
    p.clear_expected()
    assert p.on_death() is True


def test_backoff_doubles_up_to_max_and_resets_after_a_window_online():
    clk = Clock()
    p = policy(clk)
    delays = [p.enter_backoff("boom") for _ in range(4)]
    assert delays == [10.0, 20.0, 35.0, 35.0]
    assert p.error == "boom" and p.backoff_left() == 35.0
    clk.t += 30
    assert p.backoff_left() == 5.0
    assert not p.in_loop()  # deaths cleared on entering backoff
    p.note_connected(started_at=clk.t - 30)  # up for less than the window: level kept
    assert p.enter_backoff("again") == 35.0
    p.note_connected(started_at=clk.t - 61)
    assert p.level == 0 and p.enter_backoff("x") == 10.0
    p.clear_backoff()
    assert p.backoff_left() == 0.0


def test_entering_backoff_expects_its_own_stop():
    clk = Clock()
    p = policy(clk)
    p.enter_backoff("boom")
    clk.t += 1
    assert p.on_death() is False  # the supervisor's stop of the looping container
