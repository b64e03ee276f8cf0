"""PyInstaller runtime hook of lcai-tray (runs before the app's own code in the frozen program).

On Linux the bootloader points LD_LIBRARY_PATH at the bundle so the program finds its own libraries,
and every child process inherits that: xdg-open then starts the user's browser against our bundled
libssl/libQt/libgtk and crashes or opens nothing (ActivityWatch hit this), and docker/systemctl/loginctl
may load the wrong libraries too. The running process resolved its libraries already, so the
original value is restored here for everything started later. Bundled helpers still work: Qt's
QtWebEngineProcess finds its libraries through its RUNPATH ($ORIGIN/../lib), and `spawn` children
re-enter the bootloader, which sets the path again.
"""

import os
import sys

if sys.platform.startswith("linux") and getattr(sys, "frozen", False):
    _meipass = getattr(sys, "_MEIPASS", "")
    _cur = os.environ.get("LD_LIBRARY_PATH", "")
    if _meipass and _cur.split(os.pathsep)[0] == _meipass:
        _orig = os.environ.get("LD_LIBRARY_PATH_ORIG")  # kept: code that reads it still gets it
        if _orig:
            os.environ["LD_LIBRARY_PATH"] = _orig
        else:
            os.environ.pop("LD_LIBRARY_PATH", None)
    os.environ.setdefault("LCAI_TRAY_FROZEN", "1")
