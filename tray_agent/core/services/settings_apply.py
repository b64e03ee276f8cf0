"""Settings changes that need more than the schema: an RPC override must answer with the right chain id, and
some changes take effect at once (GPU memory, release feed, autostart, keep-awake)."""

from __future__ import annotations

import logging

from tray_agent.common.errors import AgentError, ValidationError

from ..networks import Network

log = logging.getLogger(__name__)


def probe_rpc_overrides(overrides: dict[str, str], networks: dict[str, Network], current: Network) -> None:
    """Each (already validated) override URL must answer and report its network's chain id before it is saved."""
    from ..chain.rpc import RpcClient

    for net, url in overrides.items():
        if not url:
            continue
        try:
            cid = int(RpcClient(url, timeout_s=5).call("eth_chainId", []), 16)
        except AgentError as e:
            raise ValidationError(f"the RPC {url} does not answer ({e.message})", fix="check the URL",
                                  field="rpc_override") from None
        except Exception:
            raise ValidationError(f"the RPC {url} does not answer", fix="check the URL", field="rpc_override") from None
        want = current.chain_id if net == current.name else networks[net].chain_id
        if cid != want:
            raise ValidationError(f"the RPC {url} is chain {cid}, not {net} ({want})",
                                  fix=f"use an RPC of {net}", field="rpc_override")


def apply_autostart(enabled: bool, profile: str, gpu_ids: tuple[str, ...] = ()) -> None:
    """Start at login on or off; an extra per-GPU worker starts without a tray (the default profile's tray shows
    every worker of the machine under one icon)."""
    from ..gpu_groups import autostart_headless
    from ..runtime import autostart

    if enabled:
        autostart.enable(profile=profile, headless=True if autostart_headless(profile, gpu_ids) else None)
    else:
        autostart.disable(profile=profile)
