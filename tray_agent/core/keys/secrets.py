"""Where keystore passwords live: the OS keychain (keyring), or an explicit opt-in file for headless servers."""

from __future__ import annotations

import json
import logging
import secrets as _rand
import string
from pathlib import Path
from typing import Protocol

from tray_agent.common.atomic import atomic_write
from tray_agent.common.errors import KeychainUnavailableError, ValidationError
from tray_agent.common.redact import register_secret

log = logging.getLogger(__name__)

# Safe unquoted in env files, shells and URLs: letters and digits only.
PASSWORD_CHARSET = string.ascii_letters + string.digits
GENERATED_LENGTH = 32
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256

_KEYCHAIN_FIX = (
    "start your desktop keychain (GNOME Keyring / KWallet / macOS Keychain / Windows Credential Manager) and unlock it; "
    "on a headless server run with --secrets-file to keep passwords in a 0600 file instead (explicit opt-in)"
)


def generate_password() -> str:
    pw = "".join(_rand.choice(PASSWORD_CHARSET) for _ in range(GENERATED_LENGTH))
    register_secret(pw)
    return pw


def check_password(pw: str) -> list[str]:
    """Validate a user-chosen password; returns strength hints (empty when strong). Raises when unusable."""
    if not isinstance(pw, str) or not pw:
        raise ValidationError("the password is empty", fix=f"type at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if len(pw) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"the password is too short ({len(pw)} characters)",
            fix=f"use at least {MIN_PASSWORD_LENGTH} characters, or let the app generate one",
            field="password",
        )
    if len(pw) > MAX_PASSWORD_LENGTH:
        raise ValidationError(f"the password is longer than {MAX_PASSWORD_LENGTH} characters", fix="use a shorter one", field="password")
    if not pw.isascii() or not pw.isprintable():
        raise ValidationError(
            "the password has non-ASCII or control characters",
            fix="use letters, digits and ASCII punctuation (the worker container reads it from an env file)",
            field="password",
        )
    if any(c in pw for c in "\"'`$\\ "):
        raise ValidationError(
            "the password contains a quote, backslash, dollar sign or space",
            fix="leave those out: the worker container reads the password from an env file",
            field="password",
        )
    register_secret(pw)
    hints = []
    classes = sum(any(c in s for c in pw) for s in (string.ascii_lowercase, string.ascii_uppercase, string.digits, string.punctuation))
    if classes < 3:
        hints.append("mix upper- and lower-case letters, digits and symbols")
    if len(pw) < 14:
        hints.append("14 or more characters is stronger")
    return hints


class SecretStore(Protocol):
    backend_name: str

    def set(self, name: str, value: str) -> None: ...
    def get(self, name: str) -> str | None: ...
    def delete(self, name: str) -> None: ...


class KeyringStore:
    """Passwords in the OS keychain under one service name per profile and network."""

    def __init__(self, service: str):
        import keyring
        from keyring.backends import chainer, fail

        self.service = service
        self._kr = keyring.get_keyring()
        self.backend_name = f"{type(self._kr).__module__}.{type(self._kr).__name__}"
        if isinstance(self._kr, fail.Keyring):
            raise KeychainUnavailableError("no usable OS keychain was found", fix=_KEYCHAIN_FIX)
        if isinstance(self._kr, chainer.ChainerBackend):
            names = [type(b).__module__ for b in self._kr.backends]
            if not names or all(n.startswith("keyrings.alt") for n in names):
                # keyrings.alt's file backends prompt on stdin or store plaintext: never silently.
                raise KeychainUnavailableError("only insecure file keyrings are available", fix=_KEYCHAIN_FIX)

    def _call(self, fn, *args):
        from keyring.errors import KeyringError

        try:
            return fn(*args)
        except KeyringError as e:
            raise KeychainUnavailableError(f"the OS keychain refused the request ({type(e).__name__})", fix=_KEYCHAIN_FIX) from None
        except Exception as e:  # secretstorage/dbus errors surface as many types (locked, dismissed prompt, no bus)
            raise KeychainUnavailableError(f"the OS keychain is not usable ({type(e).__name__})", fix=_KEYCHAIN_FIX) from None

    def set(self, name: str, value: str) -> None:
        register_secret(value)
        self._call(self._kr.set_password, self.service, name, value)
        if self._call(self._kr.get_password, self.service, name) != value:
            raise KeychainUnavailableError("the OS keychain did not keep the password (read-back differs)", fix=_KEYCHAIN_FIX)

    def get(self, name: str) -> str | None:
        value = self._call(self._kr.get_password, self.service, name)
        register_secret(value)
        return value

    def delete(self, name: str) -> None:
        from keyring.errors import PasswordDeleteError

        try:
            self._call(self._kr.delete_password, self.service, name)
        except KeychainUnavailableError as e:
            if not isinstance(e.__cause__, PasswordDeleteError):
                raise


class FileSecretStore:
    """Explicit opt-in for headless servers: a 0600 JSON file in a 0700 directory. Never chosen silently."""

    backend_name = "file (opt-in)"

    def __init__(self, path: Path, service: str = ""):
        self.path = Path(path)
        self.service = service

    def _k(self, name: str) -> str:
        return f"{self.service}/{name}"

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
        except ValueError:
            raise KeychainUnavailableError(f"the secrets file {self.path} is damaged", fix="restore it from a backup") from None
        return data if isinstance(data, dict) else {}

    def set(self, name: str, value: str) -> None:
        register_secret(value)
        data = self._load()
        data[self._k(name)] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.parent.chmod(0o700)
        atomic_write(self.path, json.dumps(data), mode=0o600)

    def get(self, name: str) -> str | None:
        value = self._load().get(self._k(name))
        register_secret(value)
        return value

    def delete(self, name: str) -> None:
        data = self._load()
        if data.pop(self._k(name), None) is not None:
            atomic_write(self.path, json.dumps(data), mode=0o600)


def open_secret_store(service: str, secrets_file: Path | None = None) -> SecretStore:
    """The keychain, or the opt-in file when ``secrets_file`` is given."""
    if secrets_file is not None:
        log.warning("keystore passwords are kept in %s (opt-in file store, not the OS keychain)", secrets_file)
        return FileSecretStore(secrets_file, service)
    return KeyringStore(service)
