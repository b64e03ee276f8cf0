"""Find ``docker``, ``colima`` and ``ollama`` where a GUI-launched app cannot see them (lesson 6).

A Finder-launched macOS app gets ``/usr/bin:/bin:/usr/sbin:/sbin`` only: Homebrew, Docker Desktop, Colima and
Ollama live elsewhere. :func:`extended_path` appends their usual folders (the inherited PATH stays first, so a
user's own choice still wins); :func:`find_tool` looks a tool up on that list.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path


def extra_dirs(platform: str | None = None, home: Path | None = None,
               env: Mapping[str, str] | None = None) -> list[str]:
    """Folders where Docker, Colima and Ollama are installed on ``platform``, best first."""
    platform = platform or sys.platform
    env = os.environ if env is None else env
    h = Path(home) if home is not None else Path.home()
    if platform == "darwin":
        return [
            "/opt/homebrew/bin", "/opt/homebrew/sbin",                       # Homebrew, Apple silicon
            "/usr/local/bin", "/usr/local/sbin",                             # Homebrew Intel; Docker/Ollama symlinks
            "/Applications/Docker.app/Contents/Resources/bin",               # Docker Desktop's bundled CLI
            str(h / ".docker" / "bin"),                                      # Docker Desktop "user" CLI install
            str(h / "Applications" / "Docker.app" / "Contents" / "Resources" / "bin"),
            str(h / ".colima" / "bin"),                                      # Colima installed by hand
            "/opt/local/bin",                                                # MacPorts (colima, docker)
            "/Applications/Ollama.app/Contents/Resources",                   # Ollama.app's bundled CLI
            str(h / "Applications" / "Ollama.app" / "Contents" / "Resources"),
            "/usr/bin", "/bin", "/usr/sbin", "/sbin",
        ]
    if platform.startswith("win"):
        pf = env.get("ProgramFiles", r"C:\Program Files")
        local = env.get("LOCALAPPDATA", str(h / "AppData" / "Local"))
        return [rf"{pf}\Docker\Docker\resources\bin", rf"{local}\Programs\Ollama", rf"{pf}\Ollama"]
    return ["/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin", "/snap/bin",
            str(h / ".local" / "bin"), str(h / "bin")]


def extended_path(current: str | None = None, platform: str | None = None, home: Path | None = None,
                  env: Mapping[str, str] | None = None) -> str:
    """``current`` (default: $PATH) followed by :func:`extra_dirs` not already on it; no duplicates."""
    platform = platform or sys.platform
    env = os.environ if env is None else env
    sep = ";" if platform.startswith("win") else ":"
    current = env.get("PATH", "") if current is None else current
    seen: set[str] = set()
    out: list[str] = []
    for d in [*current.split(sep), *extra_dirs(platform, home, env)]:
        key = d.rstrip("/\\").lower() if platform.startswith("win") else d.rstrip("/") or "/"
        if d and key not in seen:
            seen.add(key)
            out.append(d)
    return sep.join(out)


def tool_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment with the extended PATH, for child processes (docker, colima, ollama)."""
    base = dict(os.environ if env is None else env)
    base["PATH"] = extended_path(base.get("PATH", ""), env=base)
    return base


def find_tool(name: str, env: Mapping[str, str] | None = None, platform: str | None = None,
              home: Path | None = None) -> str | None:
    """Absolute path of ``name`` on the extended PATH, or None."""
    return shutil.which(name, path=extended_path(None, platform, home, env))
