"""Rotating log files in the profile's log dir, every handler behind the redaction filter."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from .redact import RedactingFilter, install_record_factory

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_dir: Path, name: str = "agent", level: int = logging.INFO, console: bool = True) -> Path:
    """Configure the root logger; returns the log file path."""
    install_record_factory()
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{name}.log"
    root = logging.getLogger()
    root.setLevel(level)
    for h in list(root.handlers):
        if getattr(h, "_lcai", False):
            root.removeHandler(h)
    fh = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=5, encoding="utf-8")
    handlers: list[logging.Handler] = [fh]
    if console:
        handlers.append(logging.StreamHandler(sys.stderr))
    for h in handlers:
        h._lcai = True  # type: ignore[attr-defined]
        h.setFormatter(logging.Formatter(FORMAT))
        h.addFilter(RedactingFilter())
        root.addHandler(h)
    path.chmod(0o600)
    return path
