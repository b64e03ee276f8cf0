"""``python -m tray_agent.tray``: the tray process (guarded: spawn/frozen re-imports must not start a tray)."""

import sys

from tray_agent.tray.app import cli

if __name__ == "__main__":
    sys.exit(cli())
