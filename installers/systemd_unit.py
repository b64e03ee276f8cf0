"""Print the systemd user unit the packages ship, rendered from the runtime's template.

    python installers/systemd_unit.py [--exec /usr/bin/lcai-tray] [--profile default]

The template is ``installers/autostart/lcai-tray.service`` and the rendering is
``tray_agent.core.runtime.autostart.render`` — the same text ``lcai-tray autostart on`` writes to
``~/.config/systemd/user/lcai-tray-<profile>.service`` — so there is one unit, not two. The packaged copy
has the same name (``lcai-tray-default.service``): a per-user unit written later overrides it, and
``lcai-tray autostart off`` disables the one the server installer enabled.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tray_agent.core.runtime.autostart import render  # noqa: E402


def unit_name(profile: str = "default") -> str:
    return f"lcai-tray-{profile}.service"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--exec", dest="exe", default="/usr/bin/lcai-tray")
    p.add_argument("--profile", default="default")
    p.add_argument("--name", action="store_true", help="print the unit's file name only")
    a = p.parse_args(argv)
    if a.name:
        print(unit_name(a.profile))
        return 0
    sys.stdout.write(render("systemd", [a.exe, "--headless"], a.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
