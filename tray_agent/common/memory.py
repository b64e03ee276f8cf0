"""Keep a long-running process lean on glibc: fewer malloc arenas, and hand freed heap back to the OS."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_ARENA_MAX = -8
_libc = None


def _glibc():
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            lib.mallopt  # noqa: B018 - glibc only (musl has no mallopt/malloc_trim)
            lib.malloc_trim  # noqa: B018
            _libc = lib
        except (OSError, AttributeError):
            _libc = False
    return _libc or None


def limit_arenas(count: int = 2) -> bool:
    """Call before threads start: each thread otherwise gets its own 64 MB-reserving arena."""
    libc = _glibc()
    return bool(libc and libc.mallopt(M_ARENA_MAX, count))


def trim() -> bool:
    """Return free heap pages to the OS (after bursts such as an operation or a log scan)."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))
