"""The one LCAI display rule (CLI, tray, agent messages); parsing lives in chain.ops.common.

Amounts are truncated, never rounded up (never show more than there is), and a non-zero amount never
shows as 0: below the chosen precision it keeps two significant digits (a 21,000 gwei fee is 0.000021).
"""

from __future__ import annotations

WEI = 10**18


def format_lcai(wei: int | str, places: int | None = 4, *, unit: bool = False, grouping: bool = True) -> str:
    """``wei`` as LCAI: ``places`` decimals at most (None = exact), thousands separated, optional " LCAI"."""
    wei = int(wei)
    sign = "-" if wei < 0 else ""
    whole, frac = divmod(abs(wei), WEI)
    digits = f"{frac:018d}"
    if places is None:
        keep = digits.rstrip("0")
    else:
        keep = digits[:max(places, 0)].rstrip("0")
        if not keep and whole == 0 and frac:
            first = len(digits) - len(digits.lstrip("0"))
            keep = digits[:first + 2].rstrip("0")
    text = sign + (f"{whole:,}" if grouping else str(whole)) + (f".{keep}" if keep else "")
    return f"{text} LCAI" if unit else text
