"""The devnet's simulated market: per-model demand weights and simulated peer workers, so the demo shows models
that differ in demand and competition (issue 18).

- Demand: ``LCAI_DEVNET_DEMAND="qwen3-vl:8b=6,llama3-8b=3"`` (model=weight, comma-separated) overrides
  :data:`DEFAULT_DEMAND`; the consumer splits its jobs by these weights.
- Peers: ``LCAI_DEVNET_PEERS="llama3-8b=2,gpt-oss:20b=1"`` (model=number of other workers) overrides
  :data:`DEFAULT_PEERS`; ``0`` or ``off`` = none. Peer *i* registers (minimum stake, from a deterministic devnet
  key) and serves every model with more than *i* peers. A peer has no container: its jobs are created already
  completed (``testCreateCompletedJobs``), so they never time out.
"""

from __future__ import annotations

import os

from eth_utils import keccak

from tray_agent.common.errors import ValidationError

# Skewed on purpose: a mid-size model in demand and lightly served earns the most per worker.
DEFAULT_DEMAND: dict[str, float] = {
    "qwen3-vl:8b": 6.0, "llama3-8b": 3.0, "gpt-oss:20b": 1.0, "glm-4.7-flash": 1.0, "qwen3-embedding:0.6b": 0.5,
}
DEFAULT_PEERS: dict[str, int] = {"llama3-8b": 2, "glm-4.7-flash": 2, "gpt-oss:20b": 1, "qwen3-vl:8b": 1}
MAX_PEERS = 8


def parse_spec(text: str, what: str, env: str) -> dict[str, float]:
    """``"a=1,b:2b=0.5"`` → {a: 1, b:2b: 0.5}; split at the last '=' (names hold ':'). Bad input: a clear error."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.rpartition("=")
        try:
            number = float(value) if sep and name else -1.0
        except ValueError:
            number = -1.0
        if number < 0 or number != number:
            raise ValidationError(f"{env}: {part!r} is not MODEL=NUMBER (a {what} of 0 or more)",
                                  fix=f'e.g. {env}="llama3-8b=3,gpt-oss:20b=1"', field=env)
        out[name.strip()] = number
    return out


def demand_weights(models: list[str] | None = None) -> dict[str, float]:
    """Weights from LCAI_DEVNET_DEMAND, else the defaults (restricted to ``models`` when given)."""
    spec = os.environ.get("LCAI_DEVNET_DEMAND", "").strip()
    weights = parse_spec(spec, "weight", "LCAI_DEVNET_DEMAND") if spec else dict(DEFAULT_DEMAND)
    if models:
        weights = {m: weights.get(m, 1.0) for m in models}
    return {m: w for m, w in weights.items() if w > 0}


def peer_counts() -> dict[str, int]:
    spec = os.environ.get("LCAI_DEVNET_PEERS", "").strip()
    if spec.lower() in ("0", "off", "none"):
        return {}
    counts = parse_spec(spec, "count", "LCAI_DEVNET_PEERS") if spec else dict(DEFAULT_PEERS)
    return {m: min(MAX_PEERS, int(n)) for m, n in counts.items() if int(n) > 0}


def peer_key(i: int) -> bytes:
    return keccak(text=f"lcai-devnet/peer-{i}")


def peer_addresses() -> set[str]:
    """Every possible peer address (lower case), also of peers a different setting registered earlier."""
    from eth_keys import keys

    return {keys.PrivateKey(peer_key(i)).public_key.to_checksum_address().lower() for i in range(MAX_PEERS)}


def ensure_peers(client, counts: dict[str, int]) -> list[str]:
    """Register the peers ``counts`` asks for (idempotent: existing registrations and models are kept)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tray_agent.core.chain.models import model_id_bytes
    from tray_agent.core.chain.tx import TxSender

    reg = client.registry
    min_stake = int(client.call(client.ai_config, "getMinWorkerStake"))
    out = []
    for i in range(max(counts.values(), default=0)):
        sender = TxSender(client, peer_key(i), poll_s=0.02, receipt_timeout_s=30)
        addr = sender.address
        client.rpc.call("anvil_setBalance", [addr, hex(min_stake + 100 * 10**18)])
        if not client.call(reg, "isWorkerRegistered", addr):
            pub = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
            sender.send(reg.address, reg.encode("registerWorker", pub), min_stake)
        for model, n in counts.items():
            if i < n and not client.call(reg, "workerSupportsModel", addr, model_id_bytes(model)):
                sender.send(reg.address, reg.encode("addSupportedModel", model_id_bytes(model)))
        out.append(addr)
    return out
