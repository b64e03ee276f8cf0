"""LCAI display for light processes (CLI, tray) that must not import web3; parsing lives in chain.ops.common."""

from __future__ import annotations

WEI = 10**18


def format_lcai(wei: int, places: int = 4) -> str:
    """Human display, truncated (never rounded up) to ``places`` decimals."""
    wei = int(wei)
    sign = "-" if wei < 0 else ""
    wei = abs(wei)
    whole, frac = divmod(wei, WEI)
    if places <= 0:
        return f"{sign}{whole:,}"
    frac_s = str(frac).rjust(18, "0")[:places].rstrip("0")
    return f"{sign}{whole:,}" + (f".{frac_s}" if frac_s else "")
