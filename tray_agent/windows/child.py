"""One pywebview window in its own process: ``python -m tray_agent.windows.child <kind> <url|->``.

With ``-`` the one-time login URL is read from stdin (keeps it out of ``ps``). The window polls
``<runtime>/windows/<kind>.focus`` / ``.close`` for requests from a WindowManager. When pywebview or
its GUI backend is missing the page opens in the system browser instead. ``LCAI_WINDOW_REPORT=<file>``
(tests) writes what the loaded page shows as JSON.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import webbrowser
from pathlib import Path

from tray_agent.windows.lifeline import hold
from tray_agent.windows.manager import KINDS, PARENT_ENV

log = logging.getLogger("tray_agent.windows")


def _windows_dir() -> Path | None:
    d = os.environ.get("LCAI_WINDOWS_DIR")
    if d:
        return Path(d)
    try:
        from tray_agent.common.paths import Paths

        return Paths.for_profile().runtime / "windows"
    except Exception:
        return None


def _watch(win, kind: str, wdir: Path | None, stop: threading.Event) -> None:
    """Serve focus/close requests; never let an exception leave the window without destroy()."""
    if wdir is None:
        return
    focus, close = wdir / f"{kind}.focus", wdir / f"{kind}.close"
    for f in (focus, close):
        f.unlink(missing_ok=True)
    while not stop.wait(0.3):
        try:
            if close.exists():
                close.unlink(missing_ok=True)
                win.destroy()
                return
            if focus.exists():
                focus.unlink(missing_ok=True)
                win.restore()
                win.show()
                win.on_top = True
                time.sleep(0.3)
                win.on_top = False
        except Exception:
            log.exception("window request failed")


def _report(win, path: str) -> None:
    """Test hook: write the page the window loaded (its URL, read from the view: the pages' Content-Security-Policy
    forbids eval, which pywebview's evaluate_js relies on)."""
    from urllib.parse import urlparse

    for _ in range(80):
        try:
            url = win.get_current_url() or ""
        except Exception:
            url = ""
        u = urlparse(url)
        if u.path.endswith(".html"):
            tmp = Path(path + ".tmp")  # whole or absent: the reader never sees a half-written file
            tmp.write_text(json.dumps({"path": u.path, "search": u.query, "url_host": u.hostname}))
            os.replace(tmp, path)
            return
        time.sleep(0.25)


def choose_gui() -> str | None:
    """PYWEBVIEW_GUI wins; on Linux prefer Qt when installed (the GTK backend needs WebKit2GTK, often absent)."""
    forced = os.environ.get("PYWEBVIEW_GUI")
    if forced:
        return forced
    if sys.platform.startswith("linux"):
        import importlib.util

        if importlib.util.find_spec("PyQt6") or importlib.util.find_spec("PySide6"):
            return "qt"
    return None


def run(kind: str, url: str) -> int:
    spec = KINDS[kind]
    try:
        import webview
    except Exception as e:  # no pywebview / no GUI toolkit: the same page works in a browser
        log.warning("no webview (%s): opening the %s page in the browser", e.__class__.__name__, kind)
        webbrowser.open(url)
        return 0
    wdir = _windows_dir()
    stop = threading.Event()
    win = webview.create_window(spec.title, url, width=spec.width, height=spec.height, min_size=(800, 600),
                                text_select=True)
    report = os.environ.get("LCAI_WINDOW_REPORT")

    def started() -> None:
        watcher = threading.Thread(target=_watch, args=(win, kind, wdir, stop), daemon=True)
        watcher.start()
        if report:
            win.events.loaded.wait(30)
            _report(win, report)

    try:
        webview.start(started, gui=choose_gui(), private_mode=True)
    except Exception as e:
        log.warning("the window could not start (%s): opening the page in the browser", e)
        webbrowser.open(url)
    finally:
        stop.set()
        if wdir is not None:
            _release(wdir / f"{kind}.pid")
    return 0


def _release(pid_file: Path) -> None:
    try:
        if json.loads(pid_file.read_text() or "{}").get("pid") == os.getpid():
            pid_file.unlink(missing_ok=True)
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in KINDS:
        print(f"usage: python -m {__spec__.name if __spec__ else 'tray_agent.windows.child'} "
              f"<{'|'.join(KINDS)}> <url|->", file=sys.stderr)
        return 2
    kind, url = args
    if url == "-":
        url = sys.stdin.readline().strip()
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        print("refusing a non-local URL", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parent = os.environ.get(PARENT_ENV, "")
    if parent.isdigit():
        hold(int(parent))
    return run(kind, url)


if __name__ == "__main__":
    sys.exit(main())
