"""Print the version of lcai-worker-tray (``--deb``: in Debian spelling): ``tray_agent.__version__``, the single source of the version.

Read from the file (no import), so any Python can run it: the wheel metadata (setuptools dynamic
version), the PyInstaller bundle, the .deb control file, the Inno Setup installer and the release feed
all take the version from here.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

INIT = Path(__file__).resolve().parent.parent / "tray_agent" / "__init__.py"


def version() -> str:
    m = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', INIT.read_text(encoding="utf-8"), re.M)
    if not m:
        raise SystemExit(f"no __version__ in {INIT}")
    return m.group(1)


def deb_version(v: str | None = None) -> str:
    """The Debian spelling of a PEP 440 version: pre-releases sort before the release (``~``)."""
    v = v or version()
    v = re.sub(r"[.-]?(dev)(\d*)", r"~\1\2", v)
    v = re.sub(r"(?<=\d)[.-]?(a|b|rc)(\d*)", r"~\1\2", v)
    return re.sub(r"[.-]?post(\d*)", r"+post\1", v)


if __name__ == "__main__":
    print(deb_version() if sys.argv[1:] == ["--deb"] else version())
    sys.exit(0)
