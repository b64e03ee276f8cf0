"""Autostart entries from one template set, installed and removed inside a temporary HOME."""

from __future__ import annotations

import configparser
import os
import plistlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import need
from tray_agent.core.runtime import autostart as a

ARGV = [sys.executable, "-m", "tray_agent.cli", "--headless", "--profile", "dev"]


@pytest.mark.parametrize("kind", a.KINDS)
def test_install_uninstall_roundtrip(tmp_path, kind):
    path = a.install(kind, ARGV, "dev", tmp_path)
    assert path.is_relative_to(tmp_path) and a.installed(kind, "dev", tmp_path)
    assert a.install(kind, ARGV, "dev", tmp_path) == path  # idempotent
    assert a.uninstall(kind, "dev", tmp_path) is True
    assert not a.installed(kind, "dev", tmp_path)
    assert a.uninstall(kind, "dev", tmp_path) is False
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() or p.is_symlink()]
    assert leftovers == []


def test_systemd_unit_verifies(tmp_path):
    path = a.install("systemd", ARGV, "dev", tmp_path)
    wants = path.parent / "default.target.wants" / path.name
    assert wants.is_symlink() and wants.resolve() == path
    text = path.read_text()
    assert "ExecStart=" + sys.executable in text and "WantedBy=default.target" in text
    need(shutil.which("systemd-analyze") is not None, "systemd-analyze (apt install systemd)")
    rt = tmp_path / "rt"
    rt.mkdir(mode=0o700)
    r = subprocess.run(["systemd-analyze", "verify", "--user", str(path)], capture_output=True, text=True,
                       env=dict(os.environ, HOME=str(tmp_path), XDG_RUNTIME_DIR=str(rt)), timeout=60)
    assert r.returncode == 0, r.stderr


def test_systemd_quoting_spaces_and_percent(tmp_path):
    text = a.render("systemd", ["/opt/my app/lcai-tray", "--x=50%"], "dev")
    assert 'ExecStart="/opt/my app/lcai-tray" --x=50%%' in text


def test_xdg_desktop_entry(tmp_path):
    path = a.install("xdg", ["/opt/my app/lcai-tray", "--profile", "dev"], "dev", tmp_path)
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str
    cp.read(path)
    e = cp["Desktop Entry"]
    assert e["Type"] == "Application" and e["Terminal"] == "false"
    assert e["Exec"] == '"/opt/my app/lcai-tray" --profile dev'


def test_launchagent_plist(tmp_path):
    path = a.install("launchagent", ["/Applications/LC Worker.app/Contents/MacOS/lcai-tray", "--a&b"], "dev", tmp_path)
    d = plistlib.loads(path.read_bytes())
    assert d["Label"] == "ai.lightchain.lcai-tray.dev" and d["RunAtLoad"] is True
    assert d["ProgramArguments"] == ["/Applications/LC Worker.app/Contents/MacOS/lcai-tray", "--a&b"]
    assert d["EnvironmentVariables"]["LCAI_TRAY_PROFILE"] == "dev"


def test_windows_task_xml_hidden(tmp_path):
    argv = [r"C:\Program Files\LC\pythonw.exe", "-m", "tray_agent.cli", "--profile", "my dev"]
    path = a.install("windows-task", argv, "dev", tmp_path)
    raw = path.read_bytes()
    assert raw[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16 with BOM, as schtasks /XML expects
    root = ET.fromstring(raw)
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    assert root.find("t:Actions/t:Exec/t:Command", ns).text == argv[0]
    assert root.find("t:Actions/t:Exec/t:Arguments", ns).text == '-m tray_agent.cli --profile "my dev"'
    assert root.find("t:Settings/t:Hidden", ns).text == "true"
    assert root.find("t:Triggers/t:LogonTrigger", ns) is not None


def test_activation_commands_via_runner(tmp_path):
    calls = []
    a.install("launchagent", ARGV, "dev", tmp_path, activate=True, runner=lambda c: calls.append(list(c)) or 0)
    a.uninstall("launchagent", "dev", tmp_path, activate=True, runner=lambda c: calls.append(list(c)) or 0)
    a.install("windows-task", ARGV, "dev", tmp_path, activate=True, runner=lambda c: calls.append(list(c)) or 0)
    assert calls[0][:3] == ["launchctl", "load", "-w"] and calls[1][:3] == ["launchctl", "unload", "-w"]
    assert calls[2][:4] == ["schtasks", "/Create", "/TN", "lcai-tray-dev"]


def test_unknown_kind():
    from tray_agent.common.errors import ValidationError

    with pytest.raises(ValidationError):
        a.render("cron", ARGV, "dev")


def test_enable_disable_default_kind(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    calls = []
    path = a.enable("dev", tmp_path, runner=lambda c: calls.append(list(c)) or 0)
    kind = "systemd" if sys.platform.startswith("linux") else a.default_kind()
    assert a.enabled("dev", tmp_path) == [kind] and path == a.target_path(kind, tmp_path, "dev")
    if kind == "systemd":
        assert "--headless" in path.read_text() and "--profile dev" in path.read_text()
    assert a.disable("dev", tmp_path, runner=lambda c: calls.append(list(c)) or 0) is True
    assert a.enabled("dev", tmp_path) == [] and a.disable("dev", tmp_path, runner=lambda c: 0) is False
