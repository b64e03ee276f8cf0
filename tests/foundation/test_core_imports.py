"""core/ must stay GUI-free: importing every core module in a fresh interpreter loads no pystray, PIL or webview,
and no module of the layers above it (api, cli, tray, windows, serve). common/ loads only stdlib + platformdirs."""

import subprocess
import sys
import textwrap

FORBIDDEN = ("pystray", "PIL", "webview")
UPPER = ("tray_agent.api", "tray_agent.cli", "tray_agent.tray", "tray_agent.windows", "tray_agent.serve")


def test_core_never_imports_gui_libraries():
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import tray_agent.core as core
        for m in pkgutil.walk_packages(core.__path__, "tray_agent.core."):
            importlib.import_module(m.name)
        bad = sorted({n.split('.')[0] for n in sys.modules} & set(%r))
        bad += sorted(n for n in sys.modules if n.startswith(%u))
        print("BAD:" + ",".join(bad))
        """
    ).replace("%r", repr(FORBIDDEN)).replace("%u", repr(UPPER))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("BAD:"), out.stdout


def test_the_check_itself_detects_a_gui_import():
    """Guard against a check that cannot fail: importing PIL must be seen."""
    code = "import PIL.Image, sys; print('PIL' in {n.split('.')[0] for n in sys.modules})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "True"


def test_common_loads_only_stdlib_and_platformdirs():
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        before = set(sys.modules)
        import tray_agent.common as common
        for m in pkgutil.walk_packages(common.__path__, "tray_agent.common."):
            importlib.import_module(m.name)
        new = {n.split('.')[0] for n in set(sys.modules) - before}
        bad = sorted(n for n in new if n not in sys.stdlib_module_names and n not in ("tray_agent", "platformdirs")
                     and not n.startswith("_"))
        bad += sorted(n for n in sys.modules if n.startswith("tray_agent.") and not n.startswith("tray_agent.common"))
        print("BAD:" + ",".join(bad))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("BAD:"), out.stdout
