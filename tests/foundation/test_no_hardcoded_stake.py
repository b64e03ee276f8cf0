"""The UI never hard-codes a stake amount (lesson 13): stakes come from the chain (or, before a switch, from the
shipped networks file through the API)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_stake_amount_is_written_into_the_pages():
    hits = []
    for f in sorted((ROOT / "web_ui").glob("*.*")):
        if f.suffix in (".js", ".html"):
            for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if re.search(r"\b(50,?000|5,?000)\b", line) and "LCAI" in line:
                    hits.append(f"{f.name}:{n}: {line.strip()[:100]}")
    assert not hits, hits


def test_the_onboarding_warning_takes_the_stake_from_the_networks_file():
    from tray_agent.core.onboarding import mainnet_warning

    assert "12,345 LCAI (read on-chain)" in mainnet_warning(12_345 * 10**18, True)
    assert "last known minimum" in mainnet_warning(50_000 * 10**18, False)
