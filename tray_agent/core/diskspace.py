"""Free-disk guard (lesson 7): check before starting Docker and before pulling images or models, because a
near-full disk bricks Docker Desktop's backend and half-pulled models waste the download."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tray_agent.common.errors import DiskError

GIB = 1024**3
MIN_FREE_BYTES = 2 * GIB  # below this Docker Desktop's VM and Ollama's blob writes start failing


def free_bytes(path: str | os.PathLike[str]) -> int:
    """Free bytes for an unprivileged user on the file system holding ``path`` (its nearest existing parent)."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def fmt_gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def require_free(path: str | os.PathLike[str], need_bytes: int = 0, what: str = "this step") -> int:
    """Raise DiskError (code ``disk_low``) unless ``need_bytes`` + a 2 GiB margin are free at ``path``.

    Returns the free bytes. Call before starting Docker and before every image or model pull."""
    free = free_bytes(path)
    want = max(0, int(need_bytes)) + MIN_FREE_BYTES
    if free < want:
        raise DiskError(
            f"only {fmt_gib(free)} free on the disk of {path}; {what} needs about {fmt_gib(want)}",
            fix="free some disk space (empty the trash, remove unused Docker images or Ollama models), then retry",
            code="disk_low",
        )
    return free
