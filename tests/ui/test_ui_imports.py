"""The tray process stays light: no web3, eth_account, docker (or other heavy core parts) in its imports."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("web3", "eth_account", "docker", "uvicorn", "starlette", "ollama", "keyring", "cryptography")


def _modules_after(code: str, env_extra: dict | None = None) -> set[str]:
    import os

    env = dict(os.environ, PYSTRAY_BACKEND="dummy", **(env_extra or {}))
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, timeout=60, env=env, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_tray_modules_do_not_import_heavy_libraries():
    mods = _modules_after(
        "import tray_agent.tray.app, tray_agent.tray.view, tray_agent.tray.icons, tray_agent.tray.stream,"
        " tray_agent.tray.dispatcher, tray_agent.tray.hosts, tray_agent.windows.manager, tray_agent.windows.child,"
        " tray_agent.windows.lifeline, tray_agent.common.api_client\n"
        "from tray_agent.tray.app import TrayApp\n"
        "from tray_agent.common.paths import Paths\n"
        "app = TrayApp(Paths.for_profile('importcheck'), start_agent=False, dark_panel=True)\n"
        "app.build_icon()\n"
    )
    bad = sorted(m for m in mods if m.split(".")[0] in HEAVY)
    assert not bad, f"the tray process imported {bad}"
    assert "pystray" in mods  # imported lazily by build_icon, after the checks above


def test_pystray_is_imported_lazily():
    mods = _modules_after("import tray_agent.tray.app, tray_agent.tray.view, tray_agent.windows.manager")
    assert "pystray" not in mods and "webview" not in mods


def test_tray_imports_without_display():
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYSTRAY_BACKEND")}
    r = subprocess.run([sys.executable, "-c", "import tray_agent.tray.app, tray_agent.tray.__main__"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
