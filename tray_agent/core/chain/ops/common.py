"""Validation helpers shared by operations: exact LCAI amounts and destination addresses."""

from __future__ import annotations

import re

from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

from tray_agent.common.errors import ValidationError

WEI_PER_LCAI = 10**18
MAX_AMOUNT_WEI = 10**9 * WEI_PER_LCAI  # more than the total supply: anything above is a typo
_AMOUNT_RE = re.compile(r"^(\d{1,12})(?:\.(\d{1,18}))?$")


def parse_lcai(text: str, *, field: str = "amount") -> int:
    """Exact wei from a decimal LCAI string ("12", "0.5", "1.000000000000000001"). No floats, no exponents."""
    if not isinstance(text, str):
        raise ValidationError("amount must be a decimal string of LCAI", fix='e.g. "12.5"', field=field)
    s = text.strip()
    m = _AMOUNT_RE.match(s)
    if not m:
        if s.startswith("-"):
            why = "must not be negative"
        elif re.search(r"[eE]", s):
            why = "must be written without an exponent"
        elif re.match(r"^\d+\.\d{19,}$", s):
            why = "has more than 18 decimals"
        elif re.match(r"^\d{13,}(\.\d*)?$", s):
            why = "is too large"
        else:
            why = "is not a decimal number"
        raise ValidationError(f"amount {text!r} {why}", fix='write a plain decimal LCAI amount, e.g. "12.5"', field=field)
    whole, frac = m.group(1), (m.group(2) or "")
    wei = int(whole) * WEI_PER_LCAI + int(frac.ljust(18, "0") or "0")
    if wei <= 0:
        raise ValidationError("amount must be greater than zero", fix="enter a positive amount", field=field)
    if wei > MAX_AMOUNT_WEI:
        raise ValidationError(f"amount {text!r} is too large", fix="check the number of digits", field=field)
    return wei


def validate_destination(address: str, *, own: str | None = None, field: str = "to") -> str:
    """Checksummed destination. Rejects malformed, bad-checksum (mixed case), zero and the worker's own address."""
    if not isinstance(address, str) or not is_hex_address(address.strip()):
        raise ValidationError("not an address: expected 0x followed by 40 hex characters", fix="paste the full address", field=field)
    a = address.strip()
    body = a[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(a):
        raise ValidationError("address checksum is wrong (a character was probably mistyped)",
                              fix="copy the address again from your wallet", field=field)
    cs = to_checksum_address(a)
    if int(cs, 16) == 0:
        raise ValidationError("the zero address burns funds", fix="enter your wallet address", field=field)
    if own and cs == to_checksum_address(own):
        raise ValidationError("that is the worker's own address", fix="enter a different wallet address", field=field)
    return cs
