"""Facts about user operations that every process shares (the agent enforces them, the CLI and tray show them)."""

from __future__ import annotations

# operations that move funds or stake: the agent refuses them without "confirm": true
MONEY_OPS = frozenset({"settle", "withdraw", "deregister", "clear_stuck", "top_up", "remove_worker", "replace_key",
                       "stop_foreign", "stop_now", "adopt_foreign"})
# operations that never touch the worker key or the container: they may run beside another operation
SIDE_OPS = frozenset({"devnet_fund", "speedtest_preview"})
