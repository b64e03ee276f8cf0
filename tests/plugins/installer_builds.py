"""Session fixtures shared by the installer tests: the Linux bundle, tarball and .deb, built once per test session
(tests/installers/test_installers_build.py checks them; test_installers_ansible.py installs them on throwaway hosts).

Artifacts go to test-output/installers/ (sizes and build times in report.json). The compression levels are the fast
ones (tarball gzip -1, deb gzip -1); releases use gzip -6 / xz -6. LCAI_BUNDLE_LEAN=1 builds the lean bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tray_agent import __version__

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output" / "installers"
DIST = OUT / "dist"
WORK = OUT / "build"
EXE = DIST / "lcai-tray" / "lcai-tray"
PY = sys.executable
LEAN = os.environ.get("LCAI_BUNDLE_LEAN") == "1"
ANVIL = ROOT / ".tools" / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
sys.path.insert(0, str(ROOT / "installers"))
from version import deb_version  # noqa: E402

sys.path.remove(str(ROOT / "installers"))


def report(**facts) -> None:
    f = OUT / "report.json"
    data = json.loads(f.read_text()) if f.exists() else {}
    data.update(facts)
    f.write_text(json.dumps(data, indent=1, sort_keys=True))


def size_mb(p: Path) -> float:
    if p.is_file():
        return round(p.stat().st_size / 2**20, 1)
    return round(sum(f.lstat().st_size for f in p.rglob("*")) / 2**20, 1)


def run(*cmd, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)


def build_env(**extra) -> dict:
    return {**os.environ, "PYTHON": PY, "LCAI_DIST": str(DIST), "LCAI_BUILD": str(WORK), **extra}


@pytest.fixture(scope="session")
def bundle() -> Path:
    from tests.conftest import need

    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        need(False, "PyInstaller (the `build` extra)")
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    args = ["bash", ROOT / "installers" / "build_bundle.sh"] + (["--lean"] if LEAN else [])
    r = run(*args, timeout=1200, env=build_env(LCAI_TAR_GZIP="1"))
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    report(bundle_lean=LEAN, bundle_and_tarball_build_s=round(time.monotonic() - t0, 1),
            bundle_size_mb=size_mb(DIST / "lcai-tray"), build_log=r.stdout[-1500:])
    return DIST / "lcai-tray"


def tarball() -> Path:
    (tb,) = DIST.glob(f"lcai-worker-tray-{__version__}-linux-*.tar.gz")
    return tb


@pytest.fixture(scope="session")
def deb(bundle) -> Path:
    from tests.conftest import need

    need(shutil.which("dpkg-deb") is not None, "dpkg-deb")
    t0 = time.monotonic()
    r = run("bash", ROOT / "installers" / "build_deb.sh", timeout=900,
             env=build_env(LCAI_DEB_COMPRESS="gzip", LCAI_DEB_LEVEL="1"))
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    (d,) = DIST.glob(f"lcai-worker-tray_{deb_version(__version__)}_*.deb")
    report(deb_build_s=round(time.monotonic() - t0, 1), deb_size_mb=size_mb(d), deb_compression="gzip -1",
            tarball_size_mb=size_mb(tarball()), tarball_compression="gzip -1")
    return d
