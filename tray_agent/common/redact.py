"""Remove secrets (private keys, passwords, keystore JSON, tokens) from text and log records."""

from __future__ import annotations

import logging
import re
import threading

_PATTERNS = [
    # bearer tokens
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[REDACTED]"),
    # keystore JSON (crypto/ciphertext blobs) and our ECDH key file
    (re.compile(r'"(ciphertext|encryptedKey|mac|salt|data)"\s*:\s*"[^"]*"', re.I), r'"\1": "[REDACTED]"'),
    # key=value / "key": "value" style secrets
    (
        re.compile(
            r'(?i)("?(?:password|passwd|pwd|secret|token|private_?key|privkey|api[_-]?key|authorization|'
            r'WORKER_KEYSTORE_PASSWORD|cookie)"?\s*[:=]\s*)("?)([^"\s,;&}]+)'
        ),
        r"\1\2[REDACTED]",
    ),
    # bare 32-byte hex (private keys); 20-byte addresses (40 hex) are left alone
    (re.compile(r"\b(0x)?[0-9a-fA-F]{64}\b"), "[REDACTED-HEX64]"),
]

_known_lock = threading.Lock()
_known: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a concrete secret (password, token) so it is scrubbed verbatim wherever it shows up."""
    if value and len(value) >= 4:
        with _known_lock:
            _known.add(value)


def redact(text: str) -> str:
    if not text:
        return text
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, "[REDACTED]")
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Replace the record's message (and formatted exception) with a redacted copy, in place."""
    try:
        msg = record.getMessage()
    except Exception:  # malformed args: keep the raw template
        msg = str(record.msg)
    record.msg = redact(msg)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None:
        import traceback

        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
        record.exc_info = None
    return record


_factory_installed = False


def install_record_factory() -> None:
    """Redact every log record at creation, before any handler (ours or a library's) sees it."""
    global _factory_installed
    if _factory_installed:
        return
    base = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        return redact_record(base(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _factory_installed = True


class RedactingFilter(logging.Filter):
    """Logging filter that rewrites every record's final message and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True
