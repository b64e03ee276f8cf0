"""Run the real TrayApp with a real pystray backend in its own process, driven through files (Xvfb tests).

usage: python tray_harness.py <backend> <control dir> [--start-agent] [--network N] [--secrets-file F]
Writes <dir>/ready when the tray attached (and <dir>/pid); on <dir>/report writes <dir>/report.json (backend,
visible, title, icon key, connected, running operation, menu labels and sensitivity as the toolkit shows them,
every tooltip seen while the agent ran an operation); on <dir>/click (a label prefix) activates that menu item
the way a user's click does (Gtk "activate" on the AppIndicator menu; pystray's item elsewhere) and writes
<dir>/clicked; on <dir>/quit stops the tray. Exits 0 when run() returned.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from pathlib import Path


def _on_gtk(fn):
    """Run ``fn`` on the GTK main loop and return its result."""
    from gi.repository import GLib

    out: list = []
    done = threading.Event()

    def run():
        try:
            out.append(fn())
        finally:
            done.set()
        return False

    GLib.idle_add(run)
    done.wait(5)
    return out[0] if out else None


def _gtk_menu(icon):
    return icon._appindicator.get_menu() if hasattr(icon, "_appindicator") else icon._menu_handle


def _label(child) -> str:
    label = child.get_label() if hasattr(child, "get_label") else None
    return re.sub(r"<[^>]+>", "", label) if label else "---"  # the default item is <b>


def gtk_menu_items(icon) -> list[dict]:
    """Labels and sensitivity of the Gtk.Menu the AppIndicator shows (submenus flattened, read on the GTK loop)."""
    def read(menu=None) -> list[dict]:
        out: list[dict] = []
        for child in (menu or _gtk_menu(icon)).get_children():
            out.append({"label": _label(child), "enabled": bool(child.get_sensitive())})
            sub = child.get_submenu() if hasattr(child, "get_submenu") else None
            if sub is not None:
                out.extend(read(sub))
        return out

    return _on_gtk(read) or []


def gtk_menu_labels(icon) -> list[str]:
    return [i["label"] for i in gtk_menu_items(icon)]


def click(app, prefix: str) -> str:
    """Activate the first enabled menu item whose label starts with ``prefix``; returns its label or ""."""
    icon = app.icon
    if "appindicator" in type(icon).__module__:
        def find(menu=None):
            for child in (menu or _gtk_menu(icon)).get_children():
                if _label(child).startswith(prefix) and child.get_sensitive():
                    child.activate()  # the same signal a user's click emits
                    return _label(child)
                sub = child.get_submenu() if hasattr(child, "get_submenu") else None
                if sub is not None:
                    hit = find(sub)
                    if hit:
                        return hit
            return ""
        return _on_gtk(find) or ""
    stack = list(icon.menu.items)
    while stack:
        item = stack.pop(0)
        if str(item.text).startswith(prefix) and item.enabled:
            item(icon)
            return str(item.text)
        if item.submenu:
            stack.extend(item.submenu.items)
    return ""


def main() -> int:
    import faulthandler
    import os
    import signal

    faulthandler.register(signal.SIGUSR1)
    ap = argparse.ArgumentParser()
    ap.add_argument("backend")
    ap.add_argument("ctl", type=Path)
    ap.add_argument("--start-agent", action="store_true")
    ap.add_argument("--network")
    ap.add_argument("--secrets-file", type=Path)
    a = ap.parse_args()
    ctl = a.ctl
    from tray_agent.common.logsetup import setup_logging
    from tray_agent.common.paths import Paths
    from tray_agent.tray.app import TrayApp

    paths = Paths.for_profile()
    if a.start_agent:
        setup_logging(paths.logs, "tray", console=True)
    app = TrayApp(paths, network=a.network, backend=a.backend, start_agent=a.start_agent, dark_panel=True,
                  secrets_file=a.secrets_file)
    app.open_onboarding = False
    busy_seen: list[str] = []
    push = app._push

    def recording_push(view) -> None:
        if app.status.operation and app.ctx.connected:
            busy_seen.append(view.tooltip)
        push(view)

    app._push = recording_push  # type: ignore[method-assign]
    (ctl / "pid").write_text(str(os.getpid()))

    def write(name: str, data: dict) -> None:
        tmp = ctl / f"{name}.tmp"
        tmp.write_text(json.dumps(data))
        tmp.rename(ctl / f"{name}.json")

    def control():
        while not (app.icon is not None and app.ctx.connected):
            time.sleep(0.05)
        (ctl / "ready").write_text("1")
        while True:
            time.sleep(0.05)
            if (ctl / "report").exists():
                (ctl / "report").unlink()
                app.ui.flush()
                icon = app.icon
                gtk = "appindicator" in type(icon).__module__
                items = gtk_menu_items(icon) if gtk else []
                write("report", {"backend": type(icon).__module__, "visible": bool(icon.visible), "title": icon.title,
                                 "icon_key": app.view.icon_key, "has_menu": bool(getattr(icon, "HAS_MENU", False)),
                                 "connected": app.ctx.connected, "agent_error": app.ctx.agent_error,
                                 "state": app.status.state.value, "operation": app.status.operation,
                                 "menu": [i["label"] for i in items], "menu_items": items,
                                 "busy_seen": list(busy_seen),
                                 "notified": [[n.title, n.message] for n in app.notified]})
            if (ctl / "click").exists():
                prefix = (ctl / "click").read_text()
                (ctl / "click").unlink()
                write("clicked", {"label": click(app, prefix)})
            if (ctl / "quit").exists():
                app.stop()
                return

    threading.Thread(target=control, daemon=True).start()
    rc = app.run()
    (ctl / "exited").write_text(str(rc))
    return rc


if __name__ == "__main__":
    sys.exit(main())
