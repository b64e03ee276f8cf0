"""Real Linux builds: the PyInstaller bundle, the tarball and the .deb, then smoke tests of what they install.

Artifacts go to test-output/installers/ (kept for inspection; PyInstaller's cache there makes reruns
faster). Build times and sizes are written to test-output/installers/report.json. The bundle is the full
one (Qt WebEngine included, ~35 s on 2 cores); LCAI_BUNDLE_LEAN=1 builds the lean one instead. The
compression levels are the fast ones (tarball gzip -1, deb gzip -1): releases use gzip -6 / xz -6.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from conftest import ROOT, need
from plugins.installer_builds import (  # the bundle/deb fixtures live there
    ANVIL,
    DIST,
    EXE,
    LEAN,
    PY,
    deb_version,
)
from plugins.installer_builds import report as _report
from plugins.installer_builds import run as _run
from plugins.installer_builds import tarball as _tarball

from tray_agent import __version__

pytestmark = pytest.mark.slow



# --- the bundle -----------------------------------------------------------------------------------------
def test_bundle_answers_help_and_version(bundle):
    r = _run(EXE, "--help")
    assert r.returncode == 0, r.stderr
    assert "usage: lcai-tray" in r.stdout and "serve" in r.stdout and "status" in r.stdout
    r = _run(EXE, "--version")
    assert r.returncode == 0 and r.stdout.strip() == f"lcai-tray {__version__}"
    # how the CLI re-launches itself from a venv must work frozen too
    assert _run(EXE, "-m", "tray_agent", "--version").stdout.strip() == f"lcai-tray {__version__}"


def test_bundle_carries_gui_parts_and_keyring_backends(bundle):
    r = _run(EXE, "--bundle-info")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["frozen"] and info["version"] == __version__ == info["build"]["version"]
    assert info["build"]["lean"] == LEAN
    assert info["probes"]["gtk_appindicator"]["ok"], info["probes"]["gtk_appindicator"]
    assert info["probes"]["webview"]["ok"], info["probes"]["webview"]
    if LEAN:
        assert not info["probes"]["qt_webengine"]["ok"] and "browser" in " ".join(info["notes"])
    else:
        assert info["probes"]["qt_webengine"]["ok"], info["probes"]["qt_webengine"]
        assert not info["notes"]
    assert {"appindicator", "gtk", "xorg"} <= set(info["probes"]["pystray_backends"]["detail"])
    if os.environ.get("DISPLAY"):
        assert info["probes"]["pystray"]["ok"], info["probes"]["pystray"]  # a backend loads in the bundle
    kr = info["probes"]["keyring"]
    assert kr["ok"] and "keyrings.alt" not in kr["detail"]
    if os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        assert kr["detail"] == "keyring.backends.SecretService.Keyring", kr  # frozen keyring finds its backend


def test_bundle_children_get_the_users_library_path(bundle):
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    assert json.loads(_run(EXE, "--bundle-info", env=env).stdout)["child_ld_library_path"] is None
    env["LD_LIBRARY_PATH"] = "/opt/users/own/lib"
    assert json.loads(_run(EXE, "--bundle-info", env=env).stdout)["child_ld_library_path"] == "/opt/users/own/lib"


def test_bundle_renders_a_page_with_qt_webengine(bundle):
    if LEAN:
        pytest.skip("lean bundle: no Qt WebEngine")
    need(bool(os.environ.get("DISPLAY")), "an X display (Xvfb)")
    r = _run(EXE, "--bundle-selftest-webengine", timeout=90)
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"loaded": True, "title": "lcai-bundle-ok"}


def test_bundle_contents(bundle):
    internal = bundle / "_internal"
    for rel in ("tray_agent/web_ui/dashboard.html", "tray_agent/installers/autostart/lcai-tray.service",
                "tray_agent/core/data/networks.json", "tray_agent/icons/app/lcai-tray.png", "lcai_bundle.json"):
        assert (internal / rel).is_file(), rel
    for banned in ("pytest", "_pytest", "hypothesis", "playwright", "keyrings/alt", "PyInstaller"):
        assert not (internal / banned).exists(), banned
    assert not list(internal.glob("**/qtwebengine_locales/de.pak"))  # translations trimmed


def _serve_and_status(argv: list[str], home: Path, timeout: float = 90) -> tuple[bool, str, dict]:
    """Start the headless agent on devnet, wait for `status --json` to answer, shut it down."""
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LCAI_TRAY_HOME": str(home), "LCAI_TRAY_PROFILE": "pkgtest", "PYTHONDONTWRITEBYTECODE": "1"}
    if ANVIL.exists():
        env["LCAI_ANVIL"] = str(ANVIL)
    secrets = home / "secrets"
    forms = [["serve", "--headless", "--network", "devnet", "--secrets-file", str(secrets)],
             ["--network", "devnet", "--secrets-file", str(secrets), "serve", "--headless"]]
    log = home / "serve.log"
    proc = None
    for form in forms:
        with open(log, "w") as out:
            proc = subprocess.Popen([*argv, *form], stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            break  # running
        if "unrecognized arguments" not in log.read_text():
            break
    status: dict = {}
    ok = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            r = _run(*argv, "status", "--json", env=env, timeout=30)
            try:
                status = json.loads(r.stdout)
            except ValueError:
                status = {}
            if status.get("agent") != "not running" and "state" in status:
                ok = True
                break
            time.sleep(1)
        if ok:
            _run(*argv, "shutdown", env=env, timeout=30)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                ok = False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    return ok, log.read_text()[-3000:], status


def test_bundle_serves_devnet_headless_and_reports_status(bundle, tmp_path):
    ok, log, status = _serve_and_status([str(EXE)], tmp_path / "frozen")
    if not ok:  # say whether it is a packaging fault or the app's own, but fail either way
        src_ok, src_log, _ = _serve_and_status([PY, "-m", "tray_agent"], tmp_path / "source")
        where = "it does from source" if src_ok else f"nor does the source checkout: {src_log[-1500:]}"
        raise AssertionError(f"the bundle did not serve devnet ({where}); bundle log: {log}")
    assert "devnet" in json.dumps(status), status
    _report(serve_status_keys=sorted(status))


def test_bundle_dispatches_window_children(bundle):
    r = subprocess.run([str(EXE), "_window", "dashboard", "-"], input="http://example.org/\n", capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "refusing a non-local URL" in r.stderr, r.stdout + r.stderr


def _kill_ours(home: Path) -> None:
    """SIGTERM what the frozen tray left below home (window children: *.pid; the agent: agent.lock), only
    processes running our binary. The agent shuts down cleanly on SIGTERM (and stops its devnet chain)."""
    for f in [*home.rglob("*.pid"), *home.rglob("agent.lock")]:
        try:
            pid = int(json.loads(f.read_text() or "{}").get("pid", 0))
            if pid and pid != os.getpid() and str(EXE) in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, AttributeError):
            pass


def test_bundle_tray_starts_with_its_agent(bundle, tmp_path):
    """The frozen tray (no subcommand) under Xvfb starts its agent (a frozen child) and, with no tray host
    (plain Xvfb), hands over to the onboarding window (a frozen `_window` child with Qt WebEngine)."""
    need(bool(os.environ.get("DISPLAY")), "an X display (Xvfb)")
    home = tmp_path / "tray-home"
    env = {**os.environ, "LCAI_TRAY_HOME": str(home), "LCAI_TRAY_PROFILE": "pkgtray"}
    if ANVIL.exists():
        env["LCAI_ANVIL"] = str(ANVIL)
    argv = [str(EXE), "--network", "devnet", "--secrets-file", str(tmp_path / "secrets")]
    log = tmp_path / "tray.log"

    def status() -> dict:
        try:
            return json.loads(_run(EXE, "status", "--json", env=env, timeout=30).stdout)
        except ValueError:
            return {}

    with open(log, "w") as out:
        tray = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    st: dict = {}
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "state" not in st:
            time.sleep(1)
            st = status()
        time.sleep(3)
        tray_rc = tray.poll()
    finally:
        for _ in range(10):  # the agent may still be coming up: never leave it behind
            if "state" in status():
                _run(EXE, "shutdown", env=env, timeout=30)
                break
            time.sleep(1)
        if tray.poll() is None:
            os.killpg(tray.pid, signal.SIGTERM)
            try:
                tray.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(tray.pid, signal.SIGKILL)
        time.sleep(1)
        _kill_ours(home)
    out = log.read_text()
    assert "state" in st, f"the tray's agent never answered; tray log: {out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    if tray_rc is not None:  # no tray host: the tray opens a window and leaves the stage to it
        assert tray_rc == 0 and "opened the" in out, out[-3000:]
        window_logs = list(home.rglob("window-*.log"))
        assert window_logs, "no window child was started"
        for w in window_logs:
            assert "Traceback" not in w.read_text(errors="replace"), w.read_text(errors="replace")[-3000:]


# --- the tarball ----------------------------------------------------------------------------------------
def test_tarball_layout_and_checksum(bundle):
    tb = _tarball()
    top = f"lcai-worker-tray-{__version__}"
    with tarfile.open(tb) as t:
        members = {m.name: m for m in t.getmembers()}
    for rel in ("lcai-tray/lcai-tray", "install-user.sh", "README.txt", "share/applications/lcai-tray.desktop",
                "share/icons/hicolor/256x256/apps/lcai-tray.png", "share/systemd/user/lcai-tray-default.service"):
        assert f"{top}/{rel}" in members, rel
    assert members[f"{top}/lcai-tray/lcai-tray"].mode & 0o111 and members[f"{top}/install-user.sh"].mode & 0o111
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert not [n for n in members if not n.startswith(top)]
    sums = (DIST / "SHA256SUMS").read_text()
    import hashlib

    assert f"{hashlib.sha256(tb.read_bytes()).hexdigest()}  {tb.name}" in sums


def test_tarball_user_install_and_uninstall_keep_data(bundle, tmp_path):
    with tarfile.open(_tarball()) as t:
        t.extractall(tmp_path / "x", filter="tar") if hasattr(tarfile, "data_filter") else t.extractall(tmp_path / "x")
    (top,) = (tmp_path / "x").iterdir()
    home = tmp_path / "home"
    data = home / ".local" / "share" / "lcai-worker-tray" / "default"
    data.mkdir(parents=True)
    (data / "keep.txt").write_text("keys and data")
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / ".local" / "share")}
    for _ in range(2):  # idempotent: the second run updates in place
        r = _run("bash", top / "install-user.sh", env=env, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
    exe = home / ".local" / "bin" / "lcai-tray"
    assert _run(exe, "--version").stdout.strip() == f"lcai-tray {__version__}"
    desktop = (home / ".local" / "share" / "applications" / "lcai-tray.desktop").read_text()
    assert f'Exec="{home}/.local/opt/lcai-worker-tray/lcai-tray"' in desktop
    assert (home / ".local" / "share" / "icons" / "hicolor" / "48x48" / "apps" / "lcai-tray.png").is_file()
    r = _run("bash", top / "install-user.sh", "--uninstall", env=env)
    assert r.returncode == 0 and not exe.exists() and not (home / ".local" / "opt" / "lcai-worker-tray").exists()
    assert (data / "keep.txt").read_text() == "keys and data"


# --- the .deb -------------------------------------------------------------------------------------------
def test_deb_info(deb):
    r = _run("dpkg-deb", "--info", deb)
    assert r.returncode == 0, r.stderr
    fields = dict(line.strip().split(": ", 1) for line in _run("dpkg-deb", "-f", deb).stdout.splitlines()
                  if ": " in line and not line.startswith(" "))
    assert fields["Package"] == "lcai-worker-tray"
    assert fields["Version"] == deb_version(__version__)  # single-sourced version
    assert fields["Architecture"] == _run("dpkg", "--print-architecture").stdout.strip()
    assert fields["Recommends"] == "docker.io | docker-ce"
    assert fields["Depends"].startswith("libc6 (>= 2.")
    assert int(fields["Installed-Size"]) > 50_000
    # no maintainer scripts: nothing runs as root at install/remove time, nothing touches user data
    ctrl = _run("bash", "-c", f"dpkg-deb --ctrl-tarfile '{deb}' | tar -t").stdout.split()
    assert sorted(n.lstrip("./") for n in ctrl if n.strip("./")) == ["control", "md5sums"]


def test_deb_contents_modes_and_unit(deb, tmp_path):
    lines = _run("dpkg-deb", "--contents", deb).stdout.splitlines()
    entries = {}
    for line in lines:
        parts = line.split(None, 5)
        mode, owner, name = parts[0], parts[1], parts[5]
        entries[name.split(" -> ")[0]] = (mode, owner, name)
    assert all(owner == "root/root" for _, owner, _ in entries.values())
    expect = {
        "./opt/lcai-worker-tray/lcai-tray": "-rwxr-xr-x",
        "./usr/share/applications/lcai-tray.desktop": "-rw-r--r--",
        "./usr/lib/systemd/user/lcai-tray-default.service": "-rw-r--r--",
        "./usr/share/icons/hicolor/256x256/apps/lcai-tray.png": "-rw-r--r--",
        "./usr/share/doc/lcai-worker-tray/copyright": "-rw-r--r--",
        "./usr/bin/lcai-tray": "lrwxrwxrwx",
    }
    for name, mode in expect.items():
        assert name in entries, name
        assert entries[name][0] == mode, (name, entries[name])
    assert entries["./usr/bin/lcai-tray"][2].endswith("-> /opt/lcai-worker-tray/lcai-tray")
    assert not [n for n, (m, _, _) in entries.items() if not m.startswith("l") and "w" in (m[5], m[8])]
    assert any(n.startswith("./opt/lcai-worker-tray/_internal/tray_agent/web_ui/") for n in entries)
    # the unit is the runtime's template, rendered for /usr/bin/lcai-tray
    x = tmp_path / "x"
    assert _run("dpkg-deb", "-x", deb, x).returncode == 0
    unit = (x / "usr/lib/systemd/user/lcai-tray-default.service").read_text()
    rendered = _run(PY, ROOT / "installers" / "systemd_unit.py", "--exec", "/usr/bin/lcai-tray").stdout
    assert unit.endswith(rendered) and "ExecStart=/usr/bin/lcai-tray --headless" in unit
    assert "WantedBy=default.target" in unit


def _throwaway_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    admin = root / "var" / "lib" / "dpkg"
    for d in ("info", "updates", "triggers"):
        (admin / d).mkdir(parents=True)
    # the host's libc6 record, so Depends is checked for real instead of forced
    stanza = _run("dpkg-query", "-s", "libc6").stdout
    (admin / "status").write_text(stanza.rstrip("\n") + "\n\n")
    (admin / "available").write_text("")
    arch = _run("dpkg", "--print-architecture").stdout.strip()
    (admin / "info" / f"libc6:{arch}.list").write_text("")
    return root


def test_deb_installs_and_removes_in_a_throwaway_root_keeping_user_data(deb, tmp_path):
    root = _throwaway_root(tmp_path)
    data = root / "home" / "alice" / ".local" / "share" / "lcai-worker-tray" / "default" / "data"
    data.mkdir(parents=True)
    (data / "keystore.json").write_text('{"crypto": "…"}')
    cfg = root / "home" / "alice" / ".config" / "lcai-worker-tray" / "default"
    cfg.mkdir(parents=True)
    (cfg / "settings.json").write_text("{}")
    r = _run("dpkg", f"--root={root}", "--force-not-root", "-i", deb, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _run("dpkg", f"--root={root}", "-s", "lcai-worker-tray").stdout.count("Status: install ok installed") == 1
    installed = root / "opt" / "lcai-worker-tray" / "lcai-tray"
    assert os.readlink(root / "usr" / "bin" / "lcai-tray") == "/opt/lcai-worker-tray/lcai-tray"
    assert _run(installed, "--version").stdout.strip() == f"lcai-tray {__version__}"  # the installed copy runs
    # reinstall (upgrade path) works on top of itself
    assert _run("dpkg", f"--root={root}", "--force-not-root", "-i", deb, timeout=300).returncode == 0
    r = _run("dpkg", f"--root={root}", "--force-not-root", "-r", "lcai-worker-tray", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not installed.exists() and not (root / "usr" / "bin" / "lcai-tray").exists()
    assert not (root / "usr" / "lib" / "systemd" / "user" / "lcai-tray-default.service").exists()
    assert (data / "keystore.json").read_text() == '{"crypto": "…"}'
    assert (cfg / "settings.json").exists()
    r = _run("dpkg", f"--root={root}", "--force-not-root", "-P", "lcai-worker-tray", timeout=120)
    assert r.returncode == 0 and (data / "keystore.json").exists()
    shutil.rmtree(root, ignore_errors=True)
