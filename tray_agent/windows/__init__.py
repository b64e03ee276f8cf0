"""pywebview windows, each in its own child process (see manager.WindowManager)."""

from .manager import KINDS, WindowManager, has_display

__all__ = ["KINDS", "WindowManager", "has_display"]
