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


# The statuses each error class declared before core errors stopped carrying HTTP statuses (recorded at the
# switch): the API's code table must keep answering exactly these.
DECLARED = {
    'tray_agent.common.api_client.AgentNotRunning': 400,
    'tray_agent.common.api_client.ApiError': 400,
    'tray_agent.common.errors.AgentError': 400,
    'tray_agent.common.errors.BusyError': 409,
    'tray_agent.common.errors.ConfigError': 400,
    'tray_agent.common.errors.CorruptKeystoreError': 400,
    'tray_agent.common.errors.DiskError': 507,
    'tray_agent.common.errors.KeyCustodyError': 400,
    'tray_agent.common.errors.KeyMismatchError': 400,
    'tray_agent.common.errors.KeychainUnavailableError': 503,
    'tray_agent.common.errors.MissingEncryptionKeyError': 400,
    'tray_agent.common.errors.NotFoundError': 404,
    'tray_agent.common.errors.ValidationError': 400,
    'tray_agent.common.errors.WrongPasswordError': 400,
    'tray_agent.core.chain.errors.BadReturnData': 400,
    'tray_agent.core.chain.errors.CallReverted': 400,
    'tray_agent.core.chain.errors.ChainError': 400,
    'tray_agent.core.chain.errors.InsufficientFunds': 400,
    'tray_agent.core.chain.errors.ModelNotAllowed': 409,
    'tray_agent.core.chain.errors.NonceConflict': 400,
    'tray_agent.core.chain.errors.PendingTransaction': 400,
    'tray_agent.core.chain.errors.PreconditionFailed': 409,
    'tray_agent.core.chain.errors.Reverted': 400,
    'tray_agent.core.chain.errors.RpcBadResponse': 503,
    'tray_agent.core.chain.errors.RpcError': 400,
    'tray_agent.core.chain.errors.RpcTimeout': 503,
    'tray_agent.core.chain.errors.RpcUnavailable': 503,
    'tray_agent.core.chain.errors.TxReverted': 400,
    'tray_agent.core.chain.errors.TxTimeout': 400,
    'tray_agent.core.chain.errors.WriterBusy': 409,
    'tray_agent.core.chain.errors.WrongChain': 400,
    'tray_agent.core.chain.tx.SignerMismatch': 400,
    'tray_agent.core.devnet.DevnetError': 400,
    'tray_agent.core.instance.RunningInstance': 409,
    'tray_agent.core.preflight.PreflightBlocked': 409,
    'tray_agent.core.runtime.docker_engine.DockerNotInstalled': 503,
    'tray_agent.core.runtime.docker_engine.DockerNotRunning': 503,
    'tray_agent.core.runtime.docker_engine.DockerPermissionDenied': 503,
    'tray_agent.core.runtime.docker_engine.DockerUnavailable': 503,
    'tray_agent.core.runtime.docker_engine.DockerWrongContext': 503,
    'tray_agent.core.runtime.images.ImageError': 502,
    'tray_agent.core.runtime.ollama.OllamaError': 502,
}


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_mapping_keeps_every_declared_status(cls):
    name = f"{cls.__module__}.{cls.__name__}"
    assert "http_status" not in cls.__dict__, f"{name}: core errors carry no HTTP status"
    assert status_for_code(cls.code, cls) == DECLARED.get(name, DEFAULT_STATUS), (name, cls.code)


def test_known_codes():
    assert status_for(NotFoundError("x")) == 404
    assert status_for(BusyError("x")) == 409
    assert status_for(ValidationError("x")) == 400
    assert status_for(AgentError("x", code="something_new")) == DEFAULT_STATUS
    assert status_for(os_error(OSError(errno.ENOSPC, "full"))) == 507
    assert status_for(BusyError("x", code="busy_elsewhere")) == 409  # custom code: the class's code decides

