"""Run the real TrayApp with a real pystray backend in its own process, driven through files (Xvfb tests).

usage: python tray_harness.py <backend> <control dir>
Writes <dir>/ready when the tray attached; on <dir>/report writes <dir>/report.json (backend, visible, title,
icon key, menu labels as the toolkit shows them); on <dir>/quit stops the tray. Exits 0 when run() returned.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from pathlib import Path


def gtk_menu_labels(icon) -> list[str]:
    """Labels of the Gtk.Menu the AppIndicator shows (read on the GTK main loop)."""
    from gi.repository import GLib

    out: list[str] = []
    done = threading.Event()

    def read():
        try:
            menu = icon._appindicator.get_menu() if hasattr(icon, "_appindicator") else icon._menu_handle
            for child in menu.get_children():
                label = child.get_label() if hasattr(child, "get_label") else None
                out.append(re.sub(r"<[^>]+>", "", label) if label else "---")  # default item is <b>
        finally:
            done.set()
        return False

    GLib.idle_add(read)
    done.wait(5)
    return out


def main() -> int:
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1)
    backend, ctl = sys.argv[1], Path(sys.argv[2])
    from tray_agent.common.paths import Paths
    from tray_agent.tray.app import TrayApp

    app = TrayApp(Paths.for_profile(), backend=backend, start_agent=False, dark_panel=True)
    app.open_onboarding = False

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
                rep = {"backend": type(icon).__module__, "visible": bool(icon.visible), "title": icon.title,
                       "icon_key": app.view.icon_key, "has_menu": bool(getattr(icon, "HAS_MENU", False)),
                       "menu": gtk_menu_labels(icon) if "appindicator" in type(icon).__module__ else []}
                tmp = ctl / "report.tmp"
                tmp.write_text(json.dumps(rep))
                tmp.rename(ctl / "report.json")
            if (ctl / "quit").exists():
                app.stop()
                return

    threading.Thread(target=control, daemon=True).start()
    rc = app.run()
    (ctl / "exited").write_text(str(rc))
    return rc


if __name__ == "__main__":
    sys.exit(main())
