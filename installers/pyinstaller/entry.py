"""Entry point of the frozen app (PyInstaller): the same ``lcai-tray`` command as the console script.

Besides calling ``tray_agent.cli.main`` it handles what only a frozen program needs:

* ``multiprocessing.freeze_support()`` before anything else, because dashboard windows run in a
  ``spawn`` child: without it every child would start another tray (ecosystem.md, pywebview pitfalls);
* ``[exe, "-m", "tray_agent", …]`` (how the CLI starts a background agent from a venv) is accepted;
* ``lcai-tray --bundle-info`` prints, as JSON, which optional parts this bundle carries and whether they
  load here (Qt WebEngine for the dashboard window, GTK/AppIndicator for the Linux tray menu, keyring
  backends). A missing part is explained with the fallback the app uses (the dashboard in the system
  browser, the plain X11 tray icon), so "why no window?" has an answer in the field;
* ``lcai-tray --bundle-selftest-webengine`` renders a page with the bundled Qt WebEngine (needs a
  display) — the frozen smoke test of the dashboard window's engine.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys


def _probe(fn) -> dict:
    try:
        detail = fn()
        return {"ok": True, "detail": detail}
    except Exception as exc:  # noqa: BLE001 - a probe reports every failure
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}


def _qt_webengine() -> str:
    from PyQt6 import QtCore, QtWebEngineWidgets  # noqa: F401

    return QtCore.PYQT_VERSION_STR


def _gtk_appindicator() -> str:
    import gi

    gi.require_version("Gtk", "3.0")
    from gi.repository import Gtk  # noqa: F401

    for name in ("AyatanaAppIndicator3", "AppIndicator3"):
        try:
            gi.require_version(name, "0.1")
        except ValueError:
            continue
        __import__(f"gi.repository.{name}")
        return name
    raise ImportError("no AppIndicator typelib (install gir1.2-ayatanaappindicator3-0.1)")


def _keyring() -> str:
    import keyring

    kr = keyring.get_keyring()
    return f"{type(kr).__module__}.{type(kr).__name__}"


def _webview() -> str:
    import webview

    return webview.__name__


def _pystray_backends() -> list:
    """Backends in the bundle, without importing pystray (that needs a display on Linux)."""
    names = ("_appindicator", "_gtk", "_xorg", "_darwin", "_win32", "_dummy")
    try:
        import pyimod02_importers  # PyInstaller's loader: the table of contents of the bundled modules

        toc = set(pyimod02_importers.pyz_archive.toc)
        return [n.lstrip("_") for n in names if f"pystray.{n}" in toc]
    except (ImportError, AttributeError):  # not frozen
        import importlib.util

        return [n.lstrip("_") for n in names if importlib.util.find_spec(f"pystray.{n}") is not None]


def _pystray() -> str:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RuntimeError("no display: the tray needs a desktop session (headless: lcai-tray --headless)")
    import pystray

    return pystray.Icon.__module__


def bundle_info() -> dict:
    """What this bundle carries (written at build time) and what loads on this machine."""
    here = getattr(sys, "_MEIPASS", os.path.dirname(os.path.abspath(__file__)))
    built: dict = {}
    try:
        with open(os.path.join(here, "lcai_bundle.json"), encoding="utf-8") as fh:
            built = json.load(fh)
    except OSError:
        pass
    import tray_agent

    probes = {
        "webview": _probe(_webview),
        "keyring": _probe(_keyring),
        "pystray_backends": _probe(_pystray_backends),
        "pystray": _probe(_pystray),
    }
    if sys.platform.startswith("linux"):
        probes["qt_webengine"] = _probe(_qt_webengine)
        probes["gtk_appindicator"] = _probe(_gtk_appindicator)
    notes = []
    if "qt_webengine" in probes and not probes["qt_webengine"]["ok"]:
        notes.append(
            "No dashboard window: this build has no Qt WebEngine"
            + (" (lean build)" if built.get("lean") else "")
            + ". The dashboard opens in your web browser instead (lcai-tray open)."
        )
    if "gtk_appindicator" in probes and not probes["gtk_appindicator"]["ok"]:
        notes.append(
            "No GTK/AppIndicator tray menu: the tray falls back to the plain X11 icon. On GNOME install "
            "the AppIndicator extension and gir1.2-ayatanaappindicator3-0.1."
        )
    return {
        "version": tray_agent.__version__,
        "frozen": bool(getattr(sys, "frozen", False)),
        "platform": sys.platform,
        "build": built,
        "probes": probes,
        "notes": notes,
        # what child processes (xdg-open, docker, systemctl) inherit: the user's value, not the bundle's
        "child_ld_library_path": os.environ.get("LD_LIBRARY_PATH"),
    }


def webengine_selftest(timeout_ms: int = 30000) -> int:
    """Render a page with the bundled Qt WebEngine (needs a display): proves QtWebEngineProcess, its
    resources and libraries work from the bundle. Prints JSON; exit 0 when the page loaded."""
    os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox")  # root / containers
    from PyQt6.QtCore import QTimer, QUrl
    from PyQt6.QtWebEngineWidgets import QWebEngineView
    from PyQt6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    view = QWebEngineView()
    result = {"loaded": False, "title": ""}

    def finished(ok: bool) -> None:
        result["loaded"] = bool(ok)
        result["title"] = view.title()
        app.quit()

    view.loadFinished.connect(finished)
    QTimer.singleShot(timeout_ms, app.quit)
    view.setHtml("<html><head><title>lcai-bundle-ok</title></head><body>ok</body></html>", QUrl("about:blank"))
    view.show()
    app.exec()
    print(json.dumps(result))
    return 0 if result["loaded"] and result["title"] == "lcai-bundle-ok" else 1


def run() -> int:
    multiprocessing.freeze_support()
    # A frozen program has no `python -m`: code that re-launches itself as [sys.executable, "-m",
    # "tray_agent", ...] (right for a venv) reaches here with those two words first; drop them.
    if sys.argv[1:2] == ["-m"] and sys.argv[2:3] in (["tray_agent"], ["tray_agent.cli"]):
        del sys.argv[1:3]
    if sys.argv[1:2] == ["--bundle-selftest-webengine"]:
        return webengine_selftest()
    if sys.argv[1:2] == ["--bundle-info"]:
        print(json.dumps(bundle_info(), indent=2))
        return 0
    from tray_agent.cli import main

    rc = main()
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(run())
