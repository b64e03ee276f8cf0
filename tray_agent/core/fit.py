"""Does a chosen set of models fit in memory? Sum of footprints against VRAM (or RAM on CPU) with headroom.

- ``fits``: total ≤ available − headroom;
- ``tight``: total ≤ available but eats into the headroom (works until something else needs memory);
- ``wont_fit``: total > available — Ollama would swap models between jobs (cold loads risk missed deadlines).

Integer bytes throughout. ``drop`` names the model(s) whose removal makes the set fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .catalog import DEFAULT_CONTEXT, Footprint, OllamaFacts, entry_for, footprint
from .hardware import GiB, HardwareReport, fmt_bytes
from .networks import Network

Verdict = Literal["fits", "tight", "wont_fit"]
MemoryKind = Literal["vram", "unified", "ram"]

# Headroom kept free: GPU 10 % (min 512 MiB) for the driver/other apps; system RAM on CPU 25 % (min 4 GiB) for the
# OS, Docker and the worker container. Unified memory is already the GPU working-set share, so GPU rules apply.
HEADROOM_PCT = {"vram": 10, "unified": 10, "ram": 25}
HEADROOM_MIN = {"vram": 512 * 1024**2, "unified": 512 * 1024**2, "ram": 4 * GiB}


@dataclass(frozen=True)
class FitResult:
    verdict: Verdict
    memory_kind: MemoryKind
    available_bytes: int
    headroom_bytes: int
    required_bytes: int
    footprints: tuple[Footprint, ...]
    drop: tuple[str, ...]  # suggestion: remove these to reach "fits" (empty when it fits)
    message: str

    @property
    def usable_bytes(self) -> int:
        return max(0, self.available_bytes - self.headroom_bytes)

    @property
    def spare_bytes(self) -> int:
        """usable − required (negative = short by that much)."""
        return self.usable_bytes - self.required_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "memory_kind": self.memory_kind,
            "available_bytes": self.available_bytes,
            "headroom_bytes": self.headroom_bytes,
            "usable_bytes": self.usable_bytes,
            "required_bytes": self.required_bytes,
            "spare_bytes": self.spare_bytes,
            "footprints": [f.to_dict() for f in self.footprints],
            "drop": list(self.drop),
            "message": self.message,
        }


def headroom_for(available_bytes: int, kind: MemoryKind) -> int:
    """Bytes kept free: a share of ``available_bytes`` with a floor, never more than there is."""
    return min(available_bytes, max(available_bytes * HEADROOM_PCT[kind] // 100, HEADROOM_MIN[kind]))


def _verdict(required: int, available: int, headroom: int) -> Verdict:
    if required <= available - headroom:
        return "fits"
    if required <= available:
        return "tight"
    return "wont_fit"


def suggest_drop(
    footprints: Sequence[Footprint], usable_bytes: int, keep: Iterable[str] = ()
) -> tuple[str, ...]:
    """Fewest models to remove so the rest fit in ``usable_bytes``: the smallest single model that suffices,
    else the largest ones first. Never suggests a model in ``keep``."""
    keep_set = set(keep)
    total = sum(f.total_bytes for f in footprints)
    excess = total - usable_bytes
    if excess <= 0:
        return ()
    candidates = [f for f in footprints if f.model not in keep_set]
    single = sorted((f for f in candidates if f.total_bytes >= excess), key=lambda f: (f.total_bytes, f.model))
    if single:
        return (single[0].model,)
    out: list[str] = []
    for f in sorted(candidates, key=lambda f: (-f.total_bytes, f.model)):
        out.append(f.model)
        excess -= f.total_bytes
        if excess <= 0:
            break
    return tuple(out)


def check_fit(
    footprints: Sequence[Footprint],
    available_bytes: int,
    *,
    memory_kind: MemoryKind = "vram",
    headroom_bytes: int | None = None,
    keep: Iterable[str] = (),
) -> FitResult:
    """Verdict for loading every model in ``footprints`` at once into ``available_bytes``."""
    if available_bytes < 0:
        raise ValueError("available_bytes must be >= 0")
    headroom = headroom_for(available_bytes, memory_kind) if headroom_bytes is None else headroom_bytes
    required = sum(f.total_bytes for f in footprints)
    verdict = _verdict(required, available_bytes, headroom)
    usable = max(0, available_bytes - headroom)
    drop = suggest_drop(footprints, usable, keep) if verdict != "fits" else ()
    where = {"vram": "GPU memory", "unified": "unified memory (GPU share)", "ram": "RAM (CPU mode)"}[memory_kind]
    n = len(footprints)
    need = f"{n} {'model needs' if n == 1 else 'models need'} {fmt_bytes(required)} of {fmt_bytes(available_bytes)} {where}"
    if verdict == "fits":
        message = f"{need}; {fmt_bytes(usable - required)} to spare after {fmt_bytes(headroom)} headroom"
    elif verdict == "tight":
        message = f"{need}: fits only by using the {fmt_bytes(headroom)} headroom"
    else:
        message = f"{need}: short by {fmt_bytes(required - available_bytes)}; models would swap between jobs"
    if drop:
        message += f" — drop {', '.join(drop)} to fit"
    return FitResult(verdict, memory_kind, available_bytes, headroom, required, tuple(footprints), drop, message)


def memory_budget(report: HardwareReport) -> tuple[MemoryKind, int | None]:
    """Memory models load into: GPU memory when known and ≥ 1 GiB, unified share on Apple, else system RAM.

    Returns ``(kind, None)`` when a GPU exists but its memory is unknown (ask the user).
    """
    gpu = report.gpu_memory_bytes
    if report.gpus and gpu is None:
        return "vram", None
    if gpu is not None and gpu >= GiB:
        return ("unified" if report.unified else "vram"), gpu
    return "ram", report.ram_bytes


def fit_models(
    names: Sequence[str],
    network: Network | str,
    report: HardwareReport,
    *,
    fees_wei: Mapping[str, int] | None = None,
    facts: Mapping[str, OllamaFacts] | None = None,
    context_length: int = DEFAULT_CONTEXT,
    parallel: int = 1,
    keep: Iterable[str] = (),
) -> FitResult | None:
    """End-to-end picker check: catalog → footprints → verdict on this machine. None if VRAM is unknown."""
    kind, available = memory_budget(report)
    if available is None:
        return None
    facts = facts or {}
    fps = [
        footprint(entry_for(n, network, fees_wei=fees_wei), context_length=context_length, parallel=parallel,
                  facts=facts.get(n))
        for n in names
    ]
    return check_fit(fps, available, memory_kind=kind, keep=keep)
