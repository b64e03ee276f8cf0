"""core/ must stay GUI-free: importing every core module in a fresh interpreter loads no pystray, PIL or webview."""

import subprocess
import sys
import textwrap

FORBIDDEN = ("pystray", "PIL", "webview")


def test_core_never_imports_gui_libraries():
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import tray_agent.core as core
        for m in pkgutil.walk_packages(core.__path__, "tray_agent.core."):
            importlib.import_module(m.name)
        bad = sorted({n.split('.')[0] for n in sys.modules} & set(%r))
        print("BAD:" + ",".join(bad))
        """
    ).replace("%r", repr(FORBIDDEN))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("BAD:"), out.stdout


def test_the_check_itself_detects_a_gui_import():
    """Guard against a check that cannot fail: importing PIL must be seen."""
    code = "import PIL.Image, sys; print('PIL' in {n.split('.')[0] for n in sys.modules})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True"
