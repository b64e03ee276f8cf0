"""The one LCAI display rule (CLI, tray, agent messages); parsing lives in chain.ops.common.

Amounts are truncated, never rounded up (never show more than there is), with thousands separators. At least
1 LCAI: ``places`` decimals (4). Below 1 LCAI: ``places`` significant digits, so a small amount is never shown as 0
and a fee stays readable (a 21,000 gwei fee is 0.000021; 0.096 is never cut to 0.09). The web UI's ``lcaiNumber``
(web_ui/app.js) is the same rule; tests/ui/test_ui_states.py compares the two.
"""

from __future__ import annotations

WEI = 10**18


def format_lcai(wei: int | str, places: int | None = 4, *, unit: bool = False, grouping: bool = True) -> str:
    """``wei`` as LCAI by the rule above (``places=None``: exact), optional " LCAI"."""
    wei = int(wei)
    sign = "-" if wei < 0 else ""
    whole, frac = divmod(abs(wei), WEI)
    digits = f"{frac:018d}"
    if places is None:
        keep = digits.rstrip("0")
    else:
        places = max(places, 1)
        if whole == 0 and frac:  # significant digits below 1 LCAI
            places = min(18, places + len(digits) - len(digits.lstrip("0")))
        keep = digits[:places].rstrip("0")
    text = sign + (f"{whole:,}" if grouping else str(whole)) + (f".{keep}" if keep else "")
    return f"{text} LCAI" if unit else text
