"""Models, timings and request rules of the simulated Ollama server (see :mod:`tray_agent.devnet.sim_ollama`)."""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

VERSION = "0.12.6"
DEFAULT_KEEP_ALIVE_S = 300.0
PINNED_UNTIL = datetime(2318, 1, 1, tzinfo=timezone.utc)  # what Ollama shows for keep_alive < 0


def count_tokens(text: str) -> int:
    """The simulation's tokenizer: one token per 4 characters, at least 1 for non-empty text."""
    return math.ceil(len(text) / 4) if text else 0


@dataclass(frozen=True)
class LatencyProfile:
    """Simulated speed of one model on the simulated host."""

    prefill_tps: float = 2000.0  # prompt tokens per second
    decode_tps: float = 100.0  # generated tokens per second
    load_s: float = 2.0  # cold load time
    answer_tokens: int | None = None  # None: produce num_predict tokens (or 128 when unlimited)


@dataclass(frozen=True)
class OllamaModel:
    """A model the simulated server can pull / has installed. ``size`` is bytes on disk; ``vram`` what /api/ps reports."""

    name: str
    size: int
    family: str = "llama"
    parameter_size: str = "8.0B"
    quantization_level: str = "Q4_0"
    context_length: int = 8192
    block_count: int = 32
    embedding_length: int = 4096
    head_count: int = 32
    head_count_kv: int = 8
    capabilities: tuple[str, ...] = ("completion",)
    vram: int | None = None
    profile: LatencyProfile | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.name}:{self.size}".encode()).hexdigest()

    def model_info(self) -> dict[str, Any]:
        arch = self.family
        return {
            "general.architecture": arch,
            "general.parameter_count": int(float(self.parameter_size.rstrip("BM")) * 1e9),
            f"{arch}.context_length": self.context_length,
            f"{arch}.block_count": self.block_count,
            f"{arch}.embedding_length": self.embedding_length,
            f"{arch}.attention.head_count": self.head_count,
            f"{arch}.attention.head_count_kv": self.head_count_kv,
        }


GB = 1_000_000_000
# Models of networks.md §6 with realistic disk sizes (Ollama library tags).
DEFAULT_MODELS: tuple[OllamaModel, ...] = (
    OllamaModel("llama3:8b", 4_661_224_676),
    OllamaModel("llama3:70b", 39_969_745_349, parameter_size="70.6B", block_count=80, embedding_length=8192, head_count=64),
    OllamaModel("glm-4.7-flash:latest", 19 * GB, family="glm4moe", parameter_size="30B", block_count=47,
              embedding_length=2048, head_count=20, head_count_kv=20),
    OllamaModel("gpt-oss:20b", 13_780_173_839, family="gptoss", parameter_size="20.9B", quantization_level="MXFP4",
              block_count=24, embedding_length=2880, head_count=64, capabilities=("completion", "tools", "thinking")),
    OllamaModel("gpt-oss:120b", 65_290_181_902, family="gptoss", parameter_size="116.8B", quantization_level="MXFP4",
              block_count=36, embedding_length=2880, head_count=64, capabilities=("completion", "tools", "thinking")),
    OllamaModel("qwen3-vl:8b", 6_136_116_224, family="qwen3vl", parameter_size="8.8B", quantization_level="Q4_K_M",
              block_count=36, capabilities=("completion", "vision", "thinking")),
    OllamaModel("qwen3-vl:30b", 19_546_000_000, family="qwen3vlmoe", parameter_size="31.1B", quantization_level="Q4_K_M",
              block_count=48, embedding_length=2048, capabilities=("completion", "vision", "thinking")),
    OllamaModel("qwen3-embedding:0.6b", 639_150_592, family="qwen3", parameter_size="0.6B", quantization_level="Q8_0",
              block_count=28, embedding_length=1024, head_count=16, capabilities=("embedding",)),
    OllamaModel("gemma4:e2b", 7_162_394_016, family="gemma4", parameter_size="5.1B", quantization_level="Q4_K_M",
              block_count=35, embedding_length=1536, head_count=8, head_count_kv=1),
)


@dataclass
class Fault:
    """An injected failure. ``endpoint`` like ``/api/pull``; ``model`` None = any; ``times`` None = forever.

    ``after_fraction`` (pull only): stream progress up to that fraction, then an NDJSON ``error`` line.
    ``delay_s``: sleep before answering (with ``status`` None the request then succeeds normally).
    """

    endpoint: str
    status: int | None = 500
    error: str = "injected failure"
    model: str | None = None
    times: int | None = 1
    after_fraction: float | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: dict[str, Any]


@dataclass
class _Loaded:
    expires_at: datetime | None  # None = pinned
    context_length: int
    loaded_at: float = field(default_factory=time.monotonic)


def normalize(name: str) -> str:
    """Ollama's name rule: no tag means ``:latest``."""
    name = name.strip()
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


_DURATION = re.compile(r"(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_keep_alive(value: Any) -> float | None:
    """Seconds to keep the model; None = default; negative = forever. Accepts numbers and Go durations."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("keep_alive must be a number or duration")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.lstrip("+"):
        raise ValueError(f"time: invalid duration {text!r}")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def profile_for_size(size_bytes: int) -> LatencyProfile:
    """Timings that scale with model size on a mid-range GPU host: decoding reads the weights once per token
    (≈ 220 GB/s of memory bandwidth), prefill is ≈ 20× faster than decode, a cold load reads the file at 2 GB/s."""
    gb = max(size_bytes / 1e9, 0.1)
    decode = max(2.0, min(250.0, 220.0 / gb))
    return LatencyProfile(prefill_tps=decode * 20, decode_tps=decode, load_s=round(0.5 + gb / 2.0, 2))


def _details(m: OllamaModel) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": m.family,
        "families": [m.family],
        "parameter_size": m.parameter_size,
        "quantization_level": m.quantization_level,
    }


def _resident_size(m: OllamaModel, ctx: int) -> int:
    """Weights + f16 KV cache for ``ctx`` tokens (what /api/ps ``size`` roughly reports)."""
    head_dim = m.embedding_length // max(1, m.head_count)
    return m.size + 2 * m.block_count * ctx * m.head_count_kv * head_dim * 2
