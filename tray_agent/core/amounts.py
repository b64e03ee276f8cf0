"""Exact LCAI ⇄ wei conversion (18 decimals): integers and strings only, never floats."""

from __future__ import annotations

import re

from .errors import ValidationError

WEI = 10**18
_AMOUNT = re.compile(r"^(\d{1,30})(?:\.(\d{1,18}))?$")
MAX_WEI = 10**9 * WEI  # far above total supply: anything larger is a typo


def parse_lcai(text: str, field: str = "amount") -> int:
    """'1.5' → 1500000000000000000. Rejects negatives, exponents, >18 decimals, junk and absurd sizes."""
    t = (text if isinstance(text, str) else str(text)).strip().replace("_", "")
    if not t:
        raise ValidationError(f"{field} is empty", fix="type an amount in LCAI, e.g. 12.5", field=field)
    if t.startswith("-"):
        raise ValidationError(f"{field} cannot be negative", fix="type a positive amount", field=field)
    if "e" in t.lower():
        raise ValidationError(f"{field} must be written out, without exponent notation", fix="e.g. 0.001 instead of 1e-3", field=field)
    if "." in t and len(t.split(".", 1)[1]) > 18:
        raise ValidationError(f"{field} has more than 18 decimals", fix="LCAI has 18 decimals; shorten the fraction", field=field)
    m = _AMOUNT.match(t)
    if not m:
        raise ValidationError(f"{field} {text!r} is not a number", fix="use digits and at most one '.', e.g. 12.5", field=field)
    whole, frac = m.group(1), (m.group(2) or "")
    wei = int(whole) * WEI + int(frac.ljust(18, "0") or 0)
    if wei == 0:
        raise ValidationError(f"{field} must be more than zero", fix="type a positive amount", field=field)
    if wei > MAX_WEI:
        raise ValidationError(f"{field} is unrealistically large", fix="check the number of digits", field=field)
    return wei


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
