"""GPU detection: NVML, Apple silicon, AMD ROCm and sysfs, each from recorded tool output in tests.

A GPU whose memory no tool reports has ``vram_bytes=None`` ("unknown"); the user can supply it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Vendor = Literal["nvidia", "amd", "apple", "intel", "other"]
RunFn = Callable[[list[str]], str | None]
GiB = 1024**3


@dataclass(frozen=True)
class GPU:
    """One GPU. ``vram_bytes`` None = no tool reported it (never guessed)."""

    name: str
    vendor: Vendor
    vram_bytes: int | None
    source: str  # nvml | sysctl | rocm-smi | sysfs | manual
    unified: bool = False  # Apple Silicon: memory shared with the CPU
    usable_bytes: int | None = None  # memory the GPU may use for models (unified: Metal working-set limit)
    index: int = 0
    driver: str | None = None


def run_command(argv: list[str], timeout: float = 10.0) -> str | None:
    """stdout of a tool, or None if it is missing, fails or times out."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout if p.returncode == 0 else None


def _decode(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def detect_nvidia() -> list[GPU]:
    """Every NVIDIA GPU through NVML (empty when there is no driver)."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []
    gpus: list[GPU] = []
    try:
        try:
            driver = _decode(pynvml.nvmlSystemGetDriverVersion())
        except pynvml.NVMLError:
            driver = None
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = _decode(pynvml.nvmlDeviceGetName(h))
            try:
                total: int | None = int(pynvml.nvmlDeviceGetMemoryInfo(h).total)
            except pynvml.NVMLError:
                total = None  # e.g. GB10/Grace unified parts report "not supported"
            gpus.append(GPU(name, "nvidia", total, "nvml", index=i, driver=driver))
    except pynvml.NVMLError:
        pass
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass
    return gpus


def metal_working_set(ram_bytes: int, wired_limit_mb: int = 0) -> int:
    """GPU-usable share of Apple unified memory: ``iogpu.wired_limit_mb`` when set, else Metal's default
    recommendedMaxWorkingSetSize (2/3 of RAM up to 36 GiB, 3/4 above) — the limit Ollama schedules against."""
    if wired_limit_mb > 0:
        return wired_limit_mb * 1024 * 1024
    return ram_bytes * 2 // 3 if ram_bytes <= 36 * GiB else ram_bytes * 3 // 4


def detect_apple(run: RunFn) -> list[GPU]:
    """Apple Silicon: one GPU sharing ``hw.memsize`` with the CPU."""
    brand = (run(["sysctl", "-n", "machdep.cpu.brand_string"]) or "").strip()
    if not brand.startswith("Apple"):
        return []
    mem = (run(["sysctl", "-n", "hw.memsize"]) or "").strip()
    if not mem.isdigit():
        return [GPU(f"{brand} GPU", "apple", None, "sysctl", unified=True)]
    ram = int(mem)
    wired = (run(["sysctl", "-n", "iogpu.wired_limit_mb"]) or "0").strip()
    usable = metal_working_set(ram, int(wired) if wired.isdigit() else 0)
    return [GPU(f"{brand} GPU", "apple", ram, "sysctl", unified=True, usable_bytes=usable)]


def detect_amd_rocm(run: RunFn) -> list[GPU]:
    """AMD GPUs from ``rocm-smi --showproductname --showmeminfo vram --json``."""
    out = run(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"])
    if not out:
        return []
    try:
        data = json.loads(out)
    except json.JSONDecodeError:
        return []
    gpus: list[GPU] = []
    for key in sorted(k for k in data if k.lower().startswith("card")):
        card = data[key]
        if not isinstance(card, dict):
            continue
        vram = next((v for k, v in card.items() if k.startswith("VRAM Total Memory (B)")), None)
        name = card.get("Card Series") or card.get("Card series") or card.get("Card Model") or card.get("Card model")
        idx = int(re.sub(r"\D", "", key) or 0)
        total = int(vram) if vram is not None and str(vram).strip().isdigit() else None
        gpus.append(GPU(str(name or f"AMD GPU {idx}"), "amd", total, "rocm-smi", index=idx))
    return gpus


_PCI_VENDORS: dict[str, Vendor] = {"0x1002": "amd", "0x10de": "nvidia", "0x8086": "intel"}


def detect_sysfs(root: Path = Path("/sys/class/drm")) -> list[GPU]:
    """Linux DRM cards: vendor from PCI id, VRAM from ``mem_info_vram_total`` (amdgpu) when present."""
    if not root.is_dir():
        return []
    gpus: list[GPU] = []
    for card in sorted(root.glob("card[0-9]*")):
        if "-" in card.name:  # connectors like card0-HDMI-A-1
            continue
        dev = card / "device"
        try:
            vendor_id = (dev / "vendor").read_text().strip().lower()
        except OSError:
            continue
        vendor = _PCI_VENDORS.get(vendor_id, "other")
        total: int | None = None
        try:
            raw = (dev / "mem_info_vram_total").read_text().strip()
            total = int(raw) if raw.isdigit() and int(raw) > 0 else None
        except OSError:
            pass
        try:
            pci = (dev / "device").read_text().strip()
        except OSError:
            pci = "?"
        name = f"{vendor.upper() if vendor != 'other' else 'GPU'} {vendor_id}:{pci}"
        gpus.append(GPU(name, vendor, total, "sysfs", index=int(card.name[4:])))
    return gpus


SIMULATED_ENV = "LCAI_SIMULATED_GPUS"


def simulated_gpus(spec: str | None = None) -> list[GPU] | None:
    """GPUs named by ``LCAI_SIMULATED_GPUS`` (devnet demos and tests on machines without GPUs), or None when unset.

    JSON list, one object per GPU: ``[{"name": "RTX 4090", "vram_gib": 24}, {"name": "RTX 4090", "vram_gib": 24}]``
    (``vendor`` defaults to nvidia, ``index`` to the position). They are marked ``source="simulated"``."""
    spec = os.environ.get(SIMULATED_ENV, "") if spec is None else spec
    if not spec.strip():
        return None
    try:
        items = json.loads(spec)
        out = []
        for i, g in enumerate(items):
            vram = g.get("vram_bytes", int(float(g["vram_gib"]) * GiB) if "vram_gib" in g else None)
            out.append(GPU(str(g.get("name", f"Simulated GPU {i}")), g.get("vendor", "nvidia"),
                           int(vram) if vram is not None else None, "simulated", index=int(g.get("index", i))))
        return out
    except (ValueError, TypeError, AttributeError, KeyError) as e:
        raise ValueError(f"{SIMULATED_ENV} is not a JSON list of GPUs ({e}); "
                         'e.g. [{"name": "RTX 4090", "vram_gib": 24}]') from None


def detect_gpus(run: RunFn = run_command, sysfs_root: Path = Path("/sys/class/drm")) -> list[GPU]:
    """All GPUs, best source first: NVML for NVIDIA, sysctl on Apple, rocm-smi then sysfs for the rest.
    ``LCAI_SIMULATED_GPUS`` replaces detection (see :func:`simulated_gpus`)."""
    sim = simulated_gpus()
    if sim is not None:
        return sim
    gpus = detect_nvidia()
    if sys.platform == "darwin":
        return gpus + detect_apple(run)
    amd = detect_amd_rocm(run)
    gpus += amd
    for g in detect_sysfs(sysfs_root):
        if g.vendor == "nvidia" and any(x.vendor == "nvidia" for x in gpus):
            continue  # NVML already reported NVIDIA cards
        if g.vendor == "amd" and amd:
            continue
        if g.vendor in ("intel", "other") and g.vram_bytes is None:
            continue  # integrated graphics / BMC display adapters: Ollama does not run models on them
        gpus.append(g)
    return gpus


def apply_manual_vram(gpus: list[GPU], manual_vram_bytes: int | None) -> list[GPU]:
    """The user's figure fills GPUs whose VRAM is unknown; with no GPU detected it adds a manual entry."""
    if manual_vram_bytes is None:
        return gpus
    if manual_vram_bytes <= 0:
        raise ValueError("manual_vram_bytes must be positive")
    if not gpus:
        return [GPU("GPU (entered by user)", "other", manual_vram_bytes, "manual")]
    return [
        GPU(g.name, g.vendor, manual_vram_bytes, "manual", g.unified, None, g.index, g.driver)
        if g.vram_bytes is None
        else g
        for g in gpus
    ]


# --------------------------------------------------------------------------- disks and runtime
