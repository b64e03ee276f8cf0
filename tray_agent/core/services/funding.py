"""What the funding page shows: address, amount missing, EIP-681 link, QR code and the chain to add."""

from __future__ import annotations

import io

from tray_agent.common.amounts import format_lcai

from ..chain.client import ChainSnapshot
from ..networks import Network, funding_threshold_wei


def funding_view(network: Network, address: str, snap: ChainSnapshot | None, devnet_wallet: str | None) -> dict:
    """``snap`` is the last chain snapshot (any address); only a snapshot of ``address`` counts as its balance."""
    min_stake = snap.min_stake_wei if snap else network.min_stake_fallback_wei
    mine = bool(snap and address and snap.address.lower() == address.lower())
    balance = snap.balance_wei if mine and snap else 0
    threshold = funding_threshold_wei(min_stake, network)
    missing = max(0, threshold - balance)
    eip681 = f"ethereum:{address}@{network.chain_id}?value={missing or threshold}"
    out = {
        "address": address, "threshold_wei": str(threshold), "balance_wei": str(balance), "missing_wei": str(missing),
        "min_stake_wei": str(min_stake), "threshold_lcai": format_lcai(threshold), "balance_lcai": format_lcai(balance),
        "missing_lcai": format_lcai(missing), "funded": balance >= threshold or bool(mine and snap and snap.registered),
        "eip681": eip681, "qr_svg": qr_svg(eip681), "faucet_url": network.faucet_url,
        "chain": {"chain_id": network.chain_id, "chain_id_hex": hex(network.chain_id), "rpc_url": network.rpc_url,
                  "name": network.label, "symbol": "LCAI", "explorer_url": network.explorer_url},
    }
    if devnet_wallet:
        out["devnet_wallet"] = devnet_wallet
    return out


def is_funded(network: Network, address: str, snap: ChainSnapshot | None) -> bool:
    if snap is None or not address or snap.address.lower() != address.lower():
        return False
    return snap.balance_wei >= funding_threshold_wei(snap.min_stake_wei, network)


def qr_svg(data: str) -> str:
    import segno

    buf = io.BytesIO()
    segno.make(data, error="m").save(buf, kind="svg", scale=4, border=2, xmldecl=False, svgns=True,
                                     title="Funding QR code")
    return buf.getvalue().decode()
