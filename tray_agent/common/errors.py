"""Typed errors with a stable code, a human message and a fix the user can apply."""

from __future__ import annotations


class AgentError(Exception):
    """Base error: ``code`` is stable (API/CLI), ``fix`` tells the user what to do."""

    code = "agent_error"

    def __init__(self, message: str, *, fix: str = "", code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.field = field
        if code:
            self.code = code

    def to_dict(self) -> dict:
        out = {"code": self.code, "message": self.message}
        if self.fix:
            out["fix"] = self.fix
        if self.field:
            out["field"] = self.field
        return out

    def __str__(self) -> str:
        return f"{self.message} — {self.fix}" if self.fix else self.message


class ConfigError(AgentError):
    code = "config_invalid"


class ValidationError(AgentError):
    code = "invalid_input"


class KeyCustodyError(AgentError):
    code = "key_error"


class WrongPasswordError(KeyCustodyError):
    code = "wrong_password"


class CorruptKeystoreError(KeyCustodyError):
    code = "corrupt_keystore"


class MissingEncryptionKeyError(KeyCustodyError):
    code = "missing_encryption_key"


class KeyMismatchError(KeyCustodyError):
    code = "key_mismatch"


class KeychainUnavailableError(KeyCustodyError):
    code = "keychain_unavailable"


class NotFoundError(AgentError):
    code = "not_found"


class BusyError(AgentError):
    code = "busy"


class DiskError(AgentError):
    code = "disk_error"


def os_error(e: OSError) -> AgentError:
    """A typed, user-facing error for file-system failures (disk full, read-only, permissions)."""
    import errno

    where = f" ({e.filename})" if getattr(e, "filename", None) else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskError(f"the disk is full{where}; nothing was changed", fix="free some disk space and try again",
                         code="disk_full")
    if e.errno == errno.EROFS:
        return DiskError(f"the disk is read-only{where}", fix="make the data folder writable", code="disk_read_only")
    if e.errno in (errno.EACCES, errno.EPERM):
        return DiskError(f"permission denied{where}", fix="check the owner of the app's data folder",
                         code="permission_denied")
    return DiskError(f"a file operation failed{where}: {e.strerror or type(e).__name__}",
                     fix="check the disk and try again")
