"""The one LCAI formatter (common.amounts): truncates, never shows a non-zero amount as 0, exact mode for messages.
The web UI's lcaiNumber follows the same rule (compared in tests/ui/test_ui_states.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from tray_agent.common.amounts import format_lcai

WEI = 10**18
ROOT = Path(__file__).resolve().parents[2]


def test_truncates_never_rounds_up():
    assert format_lcai(1234 * WEI + 9 * 10**17 + 99 * 10**14) == "1,234.9099"
    assert format_lcai(96 * 10**15) == "0.096"  # the Settle amount: never cut to 0.09 (issue 13 §6)
    assert format_lcai(12_345_678 * 10**10) == "0.1234"  # below 1 LCAI: 4 significant digits
    assert format_lcai(5 * WEI, 2, unit=True) == "5 LCAI"
    assert format_lcai(0, unit=True) == "0 LCAI"
    assert format_lcai(-15 * 10**17) == "-1.5"


def test_tiny_amounts_are_not_shown_as_zero():
    fee = 21_000 * 10**9  # 21,000 gas at 1 gwei
    assert format_lcai(fee) == "0.000021"  # the CLI printed "fee ≈ 0 LCAI" for this
    assert format_lcai(1, 2, unit=True) == "0.000000000000000001 LCAI"
    assert format_lcai(123 * 10**9) == "0.000000123"
    assert format_lcai(2_123_456 * 10**10) == "0.02123"


def test_exact_mode_is_what_agent_messages_need():
    assert format_lcai(10**18, None, grouping=False) == "1"
    assert format_lcai(1, None, grouping=False) == "0.000000000000000001"
    assert format_lcai(15 * 10**17, None, grouping=False) == "1.5"
    assert format_lcai(12_345 * WEI + 1, None) == "12,345.000000000000000001"
    assert format_lcai("7" + "0" * 18) == "7"  # wei strings from the API


def test_no_other_lcai_formatter_outside_core_chain():
    """UI-side formatters are gone; common.amounts.format_lcai is the only one."""
    found = []
    for path in (ROOT / "tray_agent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and "lcai" in node.name.lower() and node.name.startswith(("format", "fmt")):
                found.append(f"{path.relative_to(ROOT)}:{node.name}")
    assert sorted(found) == ["tray_agent/common/amounts.py:format_lcai"]
