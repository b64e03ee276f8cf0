"""The network's allowed models (fee per job, disk size, memory) and each model's memory footprint.

Live data wins: ``fees_wei`` from the chain/subgraph (enabled ∧ whitelisted models) defines the set and the fees;
the shipped ``data/models.json`` (networks.md §6) fills sizes and shapes and is the fallback when offline.
Footprint = weights (Ollama's real size once pulled, else the catalog) + KV cache for the worker's context length
+ a fixed runtime overhead. All byte figures are exact integers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from eth_utils import keccak

from .networks import Network

GiB = 1024**3
MiB = 1024**2
GB = 1000**3

# Ollama's context when the worker leaves OLLAMA_NUM_CTX at 0 (toolkit.md §3: num_ctx omitted) — 4096 tokens.
DEFAULT_CONTEXT = 4096
# Compute graph / CUDA context per loaded model (estimate; Ollama's own graph reservation is of this order).
RUNTIME_OVERHEAD_BYTES = 512 * MiB
# KV bytes per token when a model's shape is unknown: llama-class 8B (128 KiB) rounded up, conservative.
DEFAULT_KV_PER_TOKEN = 160 * 1024
KV_BYTES_PER_ELEMENT = 2  # f16 cache (Ollama's default OLLAMA_KV_CACHE_TYPE)

FeeSource = Literal["chain", "catalog", "unknown"]
SizeSource = Literal["ollama_ps", "ollama", "catalog_disk", "catalog_measured", "name_heuristic"]


@dataclass(frozen=True)
class KVShape:
    layers: int
    kv_heads: int
    head_dim: int  # key + value dims are each ``head_dim``

    @property
    def bytes_per_token(self) -> int:
        return 2 * self.layers * self.kv_heads * self.head_dim * KV_BYTES_PER_ELEMENT


@dataclass(frozen=True)
class ModelEntry:
    """One model the network allows (or the user asked about)."""

    name: str  # exact on-chain name = Ollama name
    model_id: str  # keccak256(utf8(name))
    ollama_tag: str  # what to ``ollama pull`` (then copy to ``name`` if different)
    fee_wei: int | None
    fee_source: FeeSource
    disk_bytes: int | None
    measured_memory_bytes: int | None  # upper measured GPU memory (networks.md §6)
    params_b: float | None
    kv: KVShape | None
    label: str  # Light / Standard / Standard+ / Large / Server-class
    in_catalog: bool
    max_output_tokens: int | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fee_wei"] = None if self.fee_wei is None else str(self.fee_wei)
        return d


@dataclass(frozen=True)
class OllamaFacts:
    """What Ollama reports about one pulled model (all optional)."""

    size_bytes: int | None = None  # /api/tags ``size`` (weights)
    model_info: Mapping[str, Any] | None = None  # /api/show ``model_info``
    loaded_size_bytes: int | None = None  # /api/ps ``size`` (weights + KV + graph, measured)
    loaded_context: int | None = None  # /api/ps ``context_length``


@dataclass(frozen=True)
class Footprint:
    model: str
    weights_bytes: int
    weights_source: SizeSource
    kv_bytes: int
    kv_source: str  # ollama_show | catalog | default_estimate | included
    overhead_bytes: int
    context_length: int
    parallel: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes + self.overhead_bytes

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_bytes": self.total_bytes}


# --------------------------------------------------------------------------- names
def model_id(name: str) -> str:
    """On-chain model id: keccak256 of the exact UTF-8 name."""
    return "0x" + keccak(text=name).hex().removeprefix("0x")


def pull_tag(name: str) -> str:
    """Ollama tag to pull for an on-chain name: a trailing ``-<N>b`` becomes ``:<N>b`` (``llama3-8b`` → ``llama3:8b``)."""
    if ":" in name:
        return name
    return re.sub(r"-(\d+(?:\.\d+)?b)$", r":\1", name)


_PARAMS = re.compile(r"(?:^|[^a-z0-9])e?(\d+(?:\.\d+)?)b(?![a-z])", re.I)


def params_from_name(name: str) -> float | None:
    """Parameter count in billions from the name (``gemma4:e2b`` → 2, ``llama3-70b`` → 70); None if absent."""
    m = _PARAMS.search(name)
    return float(m.group(1)) if m else None


def heuristic_memory(params_b: float | None) -> tuple[int, str]:
    """LightNode's resident-memory table by size (reference-app.md §7.3) → (bytes, label)."""
    p = params_b or 0
    if 0 < p <= 4:
        return 4 * GB, "Light"
    if p <= 9:
        return 8 * GB, "Standard"
    if p <= 15:
        return 12 * GB, "Standard+"
    if p <= 34:
        return 24 * GB, "Large"
    return 48 * GB, "Server-class"


# --------------------------------------------------------------------------- catalog
@lru_cache(maxsize=1)
def _shipped() -> dict[str, dict[str, Any]]:
    text = resources.files("tray_agent.core").joinpath("data/models.json").read_text()
    return {m["name"]: m for m in json.loads(text)["models"]}


def _entry(
    name: str, network: str, fee_wei: int | None, fee_source: FeeSource, max_output: int | None
) -> ModelEntry:
    raw = _shipped().get(name)
    if raw is None:
        params = params_from_name(name)
        return ModelEntry(name, model_id(name), pull_tag(name), fee_wei, fee_source if fee_wei is not None else "unknown",
                          None, None, params, None, heuristic_memory(params)[1], False, max_output,
                          "not in the shipped catalog: memory from the name heuristic")
    if fee_wei is None and network in raw["fee_wei"]:
        fee_wei, fee_source = int(raw["fee_wei"][network]), "catalog"
    mem = raw.get("memory_bytes")
    params = raw.get("params_b")
    kv = KVShape(**raw["kv"]) if raw.get("kv") else None
    return ModelEntry(
        name=name,
        model_id=model_id(name),
        ollama_tag=raw.get("ollama_tag") or pull_tag(name),
        fee_wei=fee_wei,
        fee_source=fee_source if fee_wei is not None else "unknown",
        disk_bytes=raw.get("disk_bytes"),
        measured_memory_bytes=int(mem[1]) if mem else None,
        params_b=params,
        kv=kv,
        label=heuristic_memory(params)[1],
        in_catalog=True,
        max_output_tokens=max_output,
        note=raw.get("note", ""),
    )


def catalog_for(
    network: Network | str,
    *,
    fees_wei: Mapping[str, int] | None = None,
    max_output_tokens: Mapping[str, int] | None = None,
) -> list[ModelEntry]:
    """Allowed models of ``network``: the live set from ``fees_wei`` when given, else the shipped list.

    Sorted by fee (highest first, unknown last), then name.
    """
    net = network if isinstance(network, str) else network.name
    outs = dict(max_output_tokens or {})
    if fees_wei is not None:
        entries = [_entry(n, net, int(f), "chain", outs.get(n)) for n, f in fees_wei.items()]
    else:
        entries = [_entry(n, net, None, "unknown", outs.get(n)) for n, raw in _shipped().items() if net in raw["networks"]]
    return sorted(entries, key=lambda e: (e.fee_wei is None, -(e.fee_wei or 0), e.name))


def entry_for(name: str, network: Network | str, *, fees_wei: Mapping[str, int] | None = None) -> ModelEntry:
    """Catalog entry of one model (fee from ``fees_wei`` if it has it); unknown names get the name heuristic."""
    net = network if isinstance(network, str) else network.name
    fee = None if fees_wei is None or name not in fees_wei else int(fees_wei[name])
    return _entry(name, net, fee, "chain" if fee is not None else "unknown", None)


# --------------------------------------------------------------------------- footprint
def kv_shape_from_model_info(info: Mapping[str, Any]) -> KVShape | None:
    """KV shape from Ollama's /api/show ``model_info`` (``<arch>.block_count`` etc.)."""
    arch = info.get("general.architecture")
    if not arch:
        return None

    def get(key: str) -> Any:
        return info.get(f"{arch}.{key}")

    layers, heads, kv_heads = get("block_count"), get("attention.head_count"), get("attention.head_count_kv")
    if isinstance(kv_heads, list):  # per-layer counts (some architectures): use the largest
        kv_heads = max((int(k) for k in kv_heads), default=0)
    if isinstance(heads, list):
        heads = max((int(k) for k in heads), default=0)
    key_len = get("attention.key_length")
    if key_len:
        head_dim = int(key_len)
    elif get("embedding_length") and heads:
        head_dim = int(get("embedding_length")) // int(heads)
    else:
        return None
    if not layers or not kv_heads:
        return None
    return KVShape(int(layers), int(kv_heads), head_dim)


def footprint(
    entry: ModelEntry,
    *,
    context_length: int = DEFAULT_CONTEXT,
    parallel: int = 1,
    facts: OllamaFacts | None = None,
) -> Footprint:
    """Memory one model needs when loaded with ``context_length`` tokens × ``parallel`` slots."""
    if context_length <= 0 or parallel <= 0:
        raise ValueError("context_length and parallel must be positive")
    f = facts or OllamaFacts()
    if f.loaded_size_bytes and f.loaded_context == context_length and parallel == 1:
        # Measured by Ollama at exactly this context: weights + KV + graph already included.
        return Footprint(entry.name, int(f.loaded_size_bytes), "ollama_ps", 0, "included", 0, context_length, parallel)

    shape = kv_shape_from_model_info(f.model_info) if f.model_info else None
    kv_source = "ollama_show" if shape else ("catalog" if entry.kv else "default_estimate")
    shape = shape or entry.kv
    per_token = shape.bytes_per_token if shape else DEFAULT_KV_PER_TOKEN
    kv_bytes = per_token * context_length * parallel

    if f.size_bytes:
        return Footprint(entry.name, int(f.size_bytes), "ollama", kv_bytes, kv_source, RUNTIME_OVERHEAD_BYTES,
                         context_length, parallel)
    if entry.disk_bytes:
        return Footprint(entry.name, entry.disk_bytes, "catalog_disk", kv_bytes, kv_source, RUNTIME_OVERHEAD_BYTES,
                         context_length, parallel)
    if entry.measured_memory_bytes:  # measured resident size already includes cache and graph
        return Footprint(entry.name, entry.measured_memory_bytes, "catalog_measured", 0, "included", 0,
                         context_length, parallel)
    mem, _ = heuristic_memory(entry.params_b)
    return Footprint(entry.name, mem, "name_heuristic", 0, "included", 0, context_length, parallel)


def _matches(requested: str, ollama_name: str) -> bool:
    return ollama_name == requested or ollama_name == f"{requested}:latest"


def ollama_facts(client: Any, names: Iterable[str]) -> dict[str, OllamaFacts]:
    """Collect :class:`OllamaFacts` for ``names`` with an ``ollama.Client`` (tags, show, ps). Missing = absent."""
    wanted = list(names)
    tags = {m.model: m for m in client.list().models if m.model}
    loaded = {m.model: m for m in client.ps().models if m.model}
    out: dict[str, OllamaFacts] = {}
    for name in wanted:
        tag = next((t for n, t in tags.items() if _matches(name, n)), None)
        if tag is None:
            continue
        ps = next((p for n, p in loaded.items() if _matches(name, n)), None)
        try:
            info = dict(client.show(name).modelinfo or {})
        except Exception:  # show is an enrichment; size from tags is enough
            info = None
        out[name] = OllamaFacts(
            size_bytes=int(tag.size) if tag.size is not None else None,
            model_info=info,
            loaded_size_bytes=int(ps.size) if ps is not None and ps.size is not None else None,
            loaded_context=ps.context_length if ps is not None else None,
        )
    return out
