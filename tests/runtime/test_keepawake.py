"""Keep-awake via wakepy: success path (fake), unavailable path (reason, no crash), wakepy missing."""

from __future__ import annotations

import sys

from tray_agent.core.runtime.keepawake import KeepAwake


def test_fake_success_held_and_released(monkeypatch):
    monkeypatch.setenv("WAKEPY_FAKE_SUCCESS", "1")
    changes = []
    k = KeepAwake(on_change=lambda a, r: changes.append(a))
    assert k.acquire() is True and k.held and k.active
    assert k.acquire() is True  # idempotent
    k.release()
    assert not k.held and not k.active and changes == [True, False]


def test_unavailable_reports_reason(monkeypatch):
    monkeypatch.delenv("WAKEPY_FAKE_SUCCESS", raising=False)
    monkeypatch.setenv("WAKEPY_FORCE_FAILURE", "1")
    k = KeepAwake()
    assert k.acquire() is False
    assert k.reason.startswith("keep-awake unavailable")
    k.release()


def test_wakepy_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "wakepy", None)
    k = KeepAwake()
    assert k.acquire() is False and "cannot be loaded" in k.reason
    k.release()


def test_disabled():
    k = KeepAwake(enabled=False)
    assert k.acquire() is False and not k.held and "off" in k.reason
