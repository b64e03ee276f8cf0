"""Find a system tray host and the pystray backend that can use it; import pystray lazily.

Linux: a StatusNotifierItem host (``org.kde.StatusNotifierWatcher`` on the session bus) or an XEmbed tray
(``_NET_SYSTEM_TRAY_S<n>`` selection owner, e.g. trayer, XFCE, MATE). The AppIndicator backend (PyGObject)
gives a menu with either (libayatana-appindicator falls back to XEmbed); pystray's xorg backend has no menu.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
SNI_WATCHER = "org.kde.StatusNotifierWatcher"


@dataclass(frozen=True)
class TrayHost:
    available: bool
    backend: str | None  # pystray backend name, None = pystray's default for the platform
    reason: str = ""
    has_menu: bool = True


def import_pystray(backend: str | None = None) -> Any:
    """Import pystray with the chosen backend (it picks its backend, and may raise, at import time)."""
    if backend:
        os.environ["PYSTRAY_BACKEND"] = backend
    return importlib.import_module("pystray")


def sni_watcher_present() -> bool:
    """Whether a StatusNotifierItem host is on the session bus (needs PyGObject)."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return False
    try:
        from gi.repository import Gio, GLib

        bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
        res = bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
                            GLib.Variant("(s)", (SNI_WATCHER,)), None, Gio.DBusCallFlags.NONE, 2000, None)
        return bool(res.unpack()[0])
    except Exception as e:
        log.debug("StatusNotifierWatcher check failed: %s", e)
        return False


def xembed_tray_present() -> bool:
    """Whether an XEmbed system tray owns ``_NET_SYSTEM_TRAY_S<screen>`` on the X display."""
    if not os.environ.get("DISPLAY"):
        return False
    try:
        from Xlib import X, display

        d = display.Display()
        try:
            atom = d.intern_atom(f"_NET_SYSTEM_TRAY_S{d.get_default_screen()}")
            return d.get_selection_owner(atom) != X.NONE
        finally:
            d.close()
    except Exception as e:
        log.debug("XEmbed tray check failed: %s", e)
        return False


def appindicator_available() -> bool:
    try:
        import gi

        gi.require_version("Gtk", "3.0")
        try:
            gi.require_version("AyatanaAppIndicator3", "0.1")
        except ValueError:
            gi.require_version("AppIndicator3", "0.1")
        return True
    except Exception:
        return False


def detect_tray_host(backend: str | None = None, wait_s: float = 0.0) -> TrayHost:
    """Choose a backend for this desktop; ``wait_s`` waits for a tray host that starts late (login race)."""
    backend = backend or os.environ.get("PYSTRAY_BACKEND") or None
    if sys.platform in ("win32", "darwin"):
        return TrayHost(True, backend)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return TrayHost(False, backend, "no graphical display (DISPLAY/WAYLAND_DISPLAY unset)")
    deadline = time.monotonic() + wait_s
    while True:
        sni, xembed = sni_watcher_present(), xembed_tray_present()
        if sni or xembed or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    if backend:
        ok = sni or xembed or backend == "dummy"
        return TrayHost(ok, backend, "" if ok else "no tray host on this desktop", backend not in ("xorg", "dummy"))
    if (sni or xembed) and appindicator_available():
        return TrayHost(True, "appindicator")
    if xembed:
        log.warning("PyGObject/AppIndicator is not installed: the tray icon has no menu "
                    "(install the linux-tray extra; use the dashboard window meanwhile)")
        return TrayHost(True, "xorg", "no AppIndicator", has_menu=False)
    if sni:
        return TrayHost(False, None, "a StatusNotifier host exists but PyGObject/AppIndicator is not installed")
    return TrayHost(False, None, "no tray host (on GNOME install the AppIndicator extension)")


def panel_is_dark() -> bool:
    """Best guess whether the tray panel is dark (most are); icons carry a rim for both anyway."""
    try:
        if sys.platform == "win32":
            import winreg  # type: ignore[import-not-found]

            key = winreg.OpenKey(winreg.HKEY_CURRENT_USER,
                                 r"Software\Microsoft\Windows\CurrentVersion\Themes\Personalize")
            return winreg.QueryValueEx(key, "SystemUsesLightTheme")[0] == 0
        if sys.platform == "darwin":
            out = subprocess.run(["defaults", "read", "-g", "AppleInterfaceStyle"], capture_output=True, text=True,
                                 timeout=2)
            return "dark" in out.stdout.lower()
        theme = os.environ.get("GTK_THEME", "")
        if theme:
            return "dark" in theme.lower()
    except Exception:
        pass
    return True
