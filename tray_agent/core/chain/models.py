"""Model ids: keccak256 of the exact UTF-8 name (spec networks.md §6)."""

from __future__ import annotations

from eth_utils import keccak

# Names known from networks.md §6; which of them are live is an on-chain fact (whitelisted + enabled).
KNOWN_MODELS: tuple[str, ...] = (
    "llama3-8b",
    "llama3-70b",
    "glm-4.7-flash",
    "gpt-oss:20b",
    "gpt-oss:120b",
    "qwen3-vl:8b",
    "qwen3-vl:30b",
    "qwen3-embedding:0.6b",
    "gemma4:e2b",
    "qwen3-coder:30b",
)


def model_id(name: str) -> str:
    """0x-hex bytes32 id of a model name (byte-exact: no trimming, no ':latest')."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"invalid model name {name!r}")
    return "0x" + keccak(text=name).hex()


def model_id_bytes(name: str) -> bytes:
    return keccak(text=name)


def candidate_names(*groups: object) -> list[str]:
    """Ordered, de-duplicated union of name lists (KNOWN_MODELS appended)."""
    seen: dict[str, None] = {}
    for g in (*groups, KNOWN_MODELS):
        for n in g or ():  # type: ignore[union-attr]
            seen.setdefault(str(n), None)
    return list(seen)
