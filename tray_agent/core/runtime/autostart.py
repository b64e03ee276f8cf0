"""Opt-in, reversible autostart, generated from one template set (``installers/autostart/``).

Kinds: ``systemd`` (user unit, headless servers), ``xdg`` (Linux desktop autostart entry), ``launchagent`` (macOS),
``windows-task`` (Task Scheduler XML, hidden, no console flash) and ``windows-startup`` (Startup-folder VBScript
that runs pythonw hidden). :func:`install` / :func:`uninstall` work inside any ``home`` (tests use a temp dir);
``activate=True`` also tells the OS service manager (systemctl / launchctl / schtasks) through ``runner``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape

from tray_agent.common.errors import ValidationError

from ...resources import resource_dir

KINDS = ("systemd", "xdg", "launchagent", "windows-task", "windows-startup")
_TEMPLATES = {
    "systemd": "lcai-tray.service",
    "xdg": "lcai-tray.desktop",
    "launchagent": "ai.lightchain.lcai-tray.plist",
    "windows-task": "lcai-tray-task.xml",
    "windows-startup": "lcai-tray-startup.vbs",
}
Runner = Callable[[Sequence[str]], int]


def default_kind(platform: str | None = None, headless: bool = False) -> str:
    platform = platform or sys.platform
    if platform == "darwin":
        return "launchagent"
    if platform.startswith("win"):
        return "windows-task"
    return "systemd" if headless or not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) else "xdg"


def default_command(headless: bool = False, profile: str | None = None) -> list[str]:
    """argv that starts the agent: the ``lcai-tray`` script next to the interpreter, else ``python -m``."""
    exe = Path(sys.executable)
    if sys.platform.startswith("win") and not headless:
        pyw = exe.with_name("pythonw.exe")  # no console window
        exe = pyw if pyw.exists() else exe
    script = exe.with_name("lcai-tray.exe" if sys.platform.startswith("win") else "lcai-tray")
    argv = [str(script)] if script.exists() else [str(exe), "-m", "tray_agent"]
    if headless:
        argv.append("--headless")
    if profile:
        argv += ["--profile", profile]
    return argv


def _name(profile: str) -> str:
    return f"lcai-tray-{profile}"


def target_path(kind: str, home: Path, profile: str) -> Path:
    home = Path(home)
    if kind == "systemd":
        return home / ".config" / "systemd" / "user" / f"{_name(profile)}.service"
    if kind == "xdg":
        return home / ".config" / "autostart" / f"{_name(profile)}.desktop"
    if kind == "launchagent":
        return home / "Library" / "LaunchAgents" / f"ai.lightchain.lcai-tray.{profile}.plist"
    if kind == "windows-task":
        return home / "AppData" / "Local" / "lcai-worker-tray" / "autostart" / f"{_name(profile)}.xml"
    if kind == "windows-startup":
        return (home / "AppData" / "Roaming" / "Microsoft" / "Windows" / "Start Menu" / "Programs" / "Startup"
                / f"{_name(profile)}.vbs")
    raise ValidationError(f"unknown autostart kind {kind!r}", fix=f"use one of: {', '.join(KINDS)}", field="kind")


# --- quoting per format ---------------------------------------------------------------------------------------
def _systemd_quote(arg: str) -> str:
    a = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{a}"' if any(c in a for c in " \t'\";") or not a else a


def _desktop_quote(arg: str) -> str:
    a = arg.replace("%", "%%")
    if any(c in a for c in ' \t\n"\'\\><~|&;$*?#()`'):
        a = '"' + a.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$") + '"'
    return a.replace("\\", "\\\\")  # desktop-entry string escaping applies on top


def render(kind: str, argv: Sequence[str], profile: str, log_file: Path | None = None) -> str:
    """Text of the autostart file of ``kind`` for ``argv``."""
    if kind not in KINDS:
        target_path(kind, Path("."), profile)  # raises the ValidationError
    if not argv:
        raise ValidationError("autostart needs a command", fix="pass the agent's argv", field="argv")
    tpl = Template((resource_dir("installers") / "autostart" / _TEMPLATES[kind]).read_text(encoding="utf-8"))
    win_args = subprocess.list2cmdline(list(argv[1:]))
    values = {
        "profile": profile,
        "exec_systemd": " ".join(_systemd_quote(a) for a in argv),
        "exec_desktop": " ".join(_desktop_quote(a) for a in argv),
        "label": f"ai.lightchain.lcai-tray.{profile}",
        "plist_args": "\n".join(f"    <string>{escape(a)}</string>" for a in argv),
        "log_file": escape(str(log_file or Path("/tmp") / f"{_name(profile)}.log")),
        "task_name": _name(profile),
        "win_command": escape(argv[0]),
        "win_arguments": escape(win_args),
        "vbs_command": subprocess.list2cmdline(list(argv)).replace('"', '""'),
    }
    return tpl.substitute(values)


def install(kind: str, argv: Sequence[str], profile: str, home: Path | None = None, *, activate: bool = False,
            runner: Runner | None = None, log_file: Path | None = None) -> Path:
    """Write the autostart entry (and enable it); returns its path. Idempotent."""
    home = Path(home) if home is not None else Path.home()
    path = target_path(kind, home, profile)
    text = render(kind, argv, profile, log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "windows-task":
        path.write_text(text, encoding="utf-16")
    else:
        path.write_text(text, encoding="utf-8")
    if kind == "systemd":  # what 'systemctl --user enable' does: a wants/ symlink
        wants = path.parent / "default.target.wants" / path.name
        wants.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            wants.unlink()
        wants.symlink_to(path)
    if activate:
        _activate(kind, path, profile, runner or _run, on=True)
    return path


def uninstall(kind: str, profile: str, home: Path | None = None, *, activate: bool = False,
              runner: Runner | None = None) -> bool:
    """Remove the entry (and disable it); True if something was removed."""
    home = Path(home) if home is not None else Path.home()
    path = target_path(kind, home, profile)
    if activate:
        _activate(kind, path, profile, runner or _run, on=False)
    removed = False
    if kind == "systemd":
        wants = path.parent / "default.target.wants" / path.name
        if wants.is_symlink() or wants.exists():
            wants.unlink()
            removed = True
    if path.exists():
        path.unlink()
        removed = True
    return removed


def installed(kind: str, profile: str, home: Path | None = None) -> bool:
    return target_path(kind, Path(home) if home is not None else Path.home(), profile).exists()


def _activate(kind: str, path: Path, profile: str, runner: Runner, on: bool) -> None:
    if kind == "systemd" and shutil.which("systemctl"):
        runner(["systemctl", "--user", "daemon-reload"])
        if not on:
            runner(["systemctl", "--user", "disable", "--now", path.name])
    elif kind == "launchagent":
        runner(["launchctl", "load" if on else "unload", "-w", str(path)])
    elif kind == "windows-task":
        name = _name(profile)
        runner(["schtasks", "/Create", "/TN", name, "/XML", str(path), "/F"] if on
               else ["schtasks", "/Delete", "/TN", name, "/F"])


def _run(cmd: Sequence[str]) -> int:
    try:
        return subprocess.run(list(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=30, check=False).returncode
    except (OSError, subprocess.TimeoutExpired):
        return 127


def enable(profile: str, home: Path | None = None, *, headless: bool | None = None, kind: str | None = None,
           activate: bool = True, runner: Runner | None = None) -> Path:
    """Turn autostart on for ``profile`` with this OS's default kind (headless → systemd user unit on Linux)."""
    if headless is None:
        headless = not sys.platform.startswith(("win", "darwin")) and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    kind = kind or default_kind(headless=headless)
    return install(kind, default_command(headless=headless, profile=profile), profile, home,
                   activate=activate, runner=runner)


def disable(profile: str, home: Path | None = None, *, activate: bool = True, runner: Runner | None = None) -> bool:
    """Remove every autostart entry of ``profile`` (all kinds); True if any was removed."""
    removed = False
    for kind in KINDS:
        on = installed(kind, profile, home)
        removed = uninstall(kind, profile, home, activate=activate and on, runner=runner) or removed
    return removed


def enabled(profile: str, home: Path | None = None) -> list[str]:
    """Kinds of autostart entries present for ``profile``."""
    return [k for k in KINDS if installed(k, profile, home)]
