"""The API maps error codes to HTTP statuses (api/http_status.py); it reproduces every status the error classes
declared themselves, so switching routes.py to it changes no answer."""

from __future__ import annotations

import errno
import importlib
import pkgutil

import pytest

import tray_agent
from tray_agent.api.http_status import DEFAULT_STATUS, status_for, status_for_code
from tray_agent.common.errors import AgentError, BusyError, NotFoundError, ValidationError, os_error


def all_error_classes() -> list[type[AgentError]]:
    for m in pkgutil.walk_packages(tray_agent.__path__, "tray_agent."):
        if m.name.endswith("__main__") or m.name.startswith(("tray_agent.tray", "tray_agent.windows")):
            continue
        importlib.import_module(m.name)
    seen, stack = [], [AgentError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_mapping_matches_what_each_class_declared(cls):
    declared = cls.__dict__.get("http_status") or next(
        (b.__dict__["http_status"] for b in cls.__mro__ if "http_status" in b.__dict__), None)
    if declared is None:
        pytest.skip("no declared status left to compare (the attributes were removed after the switch)")
    assert status_for_code(cls.code, cls) == declared, (cls, cls.code)


def test_known_codes():
    assert status_for(NotFoundError("x")) == 404
    assert status_for(BusyError("x")) == 409
    assert status_for(ValidationError("x")) == 400
    assert status_for(AgentError("x", code="something_new")) == DEFAULT_STATUS
    assert status_for(os_error(OSError(errno.ENOSPC, "full"))) == 507
    assert status_for(BusyError("x", code="busy_elsewhere")) == 409  # custom code: the class's code decides

