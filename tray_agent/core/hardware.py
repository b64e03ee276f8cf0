"""Hardware check: CPU, exact RAM, every GPU with its VRAM, free disk, NVIDIA container runtime, verdict.

Detection never invents a number: a GPU whose memory no tool reports has ``vram_bytes=None`` ("unknown") and the
user can supply it (``manual_vram_bytes``). External tools are called through :mod:`subprocess` and NVML through
``pynvml``; both are the library boundary tests replace with recorded outputs.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import psutil

from .gpus import (  # noqa: F401  (re-exported: the hardware report is one module for its users)
    GPU,
    RunFn,
    apply_manual_vram,
    detect_amd_rocm,
    detect_apple,
    detect_gpus,
    detect_nvidia,
    detect_sysfs,
    metal_working_set,
    run_command,
)

GiB = 1024**3
GB = 1000**3

# networks.md §7 (official run-node page). Memory figures are nominal GiB; storage is a disk size (decimal GB).
MIN_CORES, REC_CORES = 4, 16
MIN_RAM, REC_RAM = 16 * GiB, 64 * GiB
MIN_VRAM, REC_VRAM = 8 * GiB, 24 * GiB
MIN_STORAGE, REC_STORAGE = 512 * GB, 2000 * GB
# A nominal "16 GB" machine reports less (firmware/kernel/iGPU reservations, filesystem overhead): accept 90 %.
TOLERANCE_PCT = 90
# LightNode disk guards (networks.md §7): abort below 5 GiB free, warn below 15 GiB.
DISK_ABORT_FREE, DISK_WARN_FREE = 5 * GiB, 15 * GiB

Vendor = Literal["nvidia", "amd", "apple", "intel", "other"]
Level = Literal["recommended", "ok", "cpu_only", "unknown", "below_minimum"]
CheckStatus = Literal["recommended", "ok", "below_minimum", "unknown"]



@dataclass(frozen=True)
class DiskInfo:
    """Free space where one component keeps its data (measured on the nearest existing directory)."""

    purpose: str  # docker | ollama
    path: str  # requested location
    measured_path: str  # nearest existing parent actually measured
    free_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class Check:
    """One line of the verdict: a value against the network minimum / recommended."""

    name: str  # cpu_cores | ram | vram | storage
    value: int | None
    minimum: int
    recommended: int
    status: CheckStatus
    reason: str


@dataclass(frozen=True)
class HardwareReport:
    os: str
    arch: str
    cpu_model: str
    cpu_cores: int  # logical
    cpu_physical_cores: int | None
    ram_bytes: int
    gpus: tuple[GPU, ...]
    disks: tuple[DiskInfo, ...]
    nvidia_runtime: bool | None  # None = Docker not asked / not reachable
    level: Level
    checks: tuple[Check, ...]
    reasons: tuple[str, ...]  # why the level is what it is (failing or unknown checks)
    notes: tuple[str, ...] = field(default=())  # advice that does not change the level
    pinned_gpus: tuple[str, ...] = field(default=())  # this worker's GPU group ("" = every GPU); ``gpus`` = the group
    machine_gpus: tuple[GPU, ...] = field(default=())  # every GPU of the machine (the group is a subset)

    @property
    def gpu_memory_bytes(self) -> int | None:
        """Memory usable for models on GPUs with a known size (sum across GPUs; Ollama splits layers)."""
        sizes = [g.usable_bytes if g.usable_bytes is not None else g.vram_bytes for g in self.gpus]
        known = [s for s in sizes if s is not None]
        return sum(known) if known else None

    @property
    def vram_unknown(self) -> bool:
        return any(g.vram_bytes is None for g in self.gpus)

    @property
    def unified(self) -> bool:
        return any(g.unified for g in self.gpus)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gpu_memory_bytes"] = self.gpu_memory_bytes
        d["vram_unknown"] = self.vram_unknown
        d["eligible"] = self.level in ("recommended", "ok", "cpu_only")
        return d


# --------------------------------------------------------------------------- helpers
def fmt_bytes(n: int | None) -> str:
    """Human figure in GiB (binary), as memory is sold; 'unknown' for None."""
    if n is None:
        return "unknown"
    return f"{n / GiB:.1f} GiB"


def _cpu_model(run: RunFn) -> str:
    if sys.platform == "darwin":
        out = run(["sysctl", "-n", "machdep.cpu.brand_string"])
        if out and out.strip():
            return out.strip()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


# --------------------------------------------------------------------------- GPUs
def default_disk_paths() -> dict[str, Path]:
    """Where Docker keeps images and Ollama keeps models (``OLLAMA_MODELS`` wins)."""
    ollama = os.environ.get("OLLAMA_MODELS") or str(Path.home() / ".ollama")
    if sys.platform == "darwin":
        docker = Path.home() / "Library/Containers/com.docker.docker/Data"
    elif sys.platform == "win32":
        docker = Path(os.environ.get("LOCALAPPDATA", "C:/")) / "Docker"
    else:
        docker = Path("/var/lib/docker")
    return {"docker": docker, "ollama": Path(ollama)}


def nearest_existing(path: Path) -> Path:
    p = Path(path).expanduser().absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def disk_info(paths: Mapping[str, Path | str]) -> list[DiskInfo]:
    out = []
    for purpose, path in paths.items():
        measured = nearest_existing(Path(path))
        try:
            u = psutil.disk_usage(str(measured))
        except (OSError, PermissionError):
            continue
        out.append(DiskInfo(purpose, str(path), str(measured), int(u.free), int(u.total)))
    return out


def runtimes_from_docker_info(info: Mapping[str, Any]) -> list[str]:
    """Runtime names from ``docker info`` (``docker.from_env().info()``): the keys of ``Runtimes``."""
    return sorted((info.get("Runtimes") or {}).keys())


def _nvidia_runtime(runtimes: Iterable[str] | Callable[[], Iterable[str]] | None) -> bool | None:
    if runtimes is None:
        return None
    try:
        names = list(runtimes() if callable(runtimes) else runtimes)
    except Exception:  # Docker not reachable: unknown, not "absent"
        return None
    return any(n == "nvidia" or n.startswith("nvidia") for n in names)


# --------------------------------------------------------------------------- verdict
def _check(name: str, value: int | None, minimum: int, recommended: int, unit: str, fmt: Callable[[int], str]) -> Check:
    tol_min = minimum * TOLERANCE_PCT // 100
    tol_rec = recommended * TOLERANCE_PCT // 100
    if unit == "cores":  # counted exactly, no tolerance
        tol_min, tol_rec = minimum, recommended
    if value is None:
        return Check(name, None, minimum, recommended, "unknown", f"{name.replace('_', ' ')} unknown — enter it to get a verdict")
    want = f"minimum {fmt(minimum)}, recommended {fmt(recommended)}"
    if value >= tol_rec:
        return Check(name, value, minimum, recommended, "recommended", f"{fmt(value)} meets the recommended {fmt(recommended)}")
    if value >= tol_min:
        return Check(name, value, minimum, recommended, "ok", f"{fmt(value)} meets the minimum ({want})")
    return Check(name, value, minimum, recommended, "below_minimum", f"{fmt(value)} is below the minimum ({want})")


def _disk_total(n: int) -> str:
    """Disk sizes in the same unit as memory (GiB), said to be the disk's total (free space is shown apart)."""
    return f"{n / GiB:.0f} GiB total"


def assess(
    cores: int,
    ram_bytes: int,
    gpus: list[GPU],
    storage_bytes: int | None,
    disks: list[DiskInfo],
    nvidia_runtime: bool | None,
) -> tuple[Level, list[Check], list[str], list[str]]:
    """Checks against networks.md §7 → (level, checks, reasons, notes). Never a hard block."""
    gpu_mem = [g.usable_bytes if g.usable_bytes is not None else g.vram_bytes for g in gpus]
    known = [m for m in gpu_mem if m is not None]
    vram = sum(known) if known else (None if gpus else 0)
    checks = [
        _check("cpu_cores", cores, MIN_CORES, REC_CORES, "cores", lambda n: f"{n} cores"),
        _check("ram", ram_bytes, MIN_RAM, REC_RAM, "bytes", fmt_bytes),
        _check("vram", vram, MIN_VRAM, REC_VRAM, "bytes", fmt_bytes),
        _check("storage", storage_bytes, MIN_STORAGE, REC_STORAGE, "bytes", _disk_total),
    ]
    by = {c.name: c for c in checks}
    if not gpus:
        by["vram"] = Check("vram", 0, MIN_VRAM, REC_VRAM, "below_minimum", "no GPU detected: models run on the CPU (slow)")
        checks[2] = by["vram"]
    # Disk size is advisory (LightNode: a note, 5 % of its score); free space is guarded separately below.
    core = [by["cpu_cores"], by["ram"], by["vram"]]
    reasons = [c.reason for c in core if c.status in ("below_minimum", "unknown")]
    notes: list[str] = [by["storage"].reason] if by["storage"].status in ("below_minimum", "unknown") else []

    others_ok = all(by[n].status in ("ok", "recommended") for n in ("cpu_cores", "ram"))
    if all(c.status == "recommended" for c in checks):
        level: Level = "recommended"
    elif all(c.status in ("ok", "recommended") for c in core):
        level = "ok"
    elif by["vram"].status == "unknown" and others_ok:
        level = "unknown"
    elif by["vram"].status == "below_minimum" and ram_bytes >= MIN_RAM * TOLERANCE_PCT // 100 and others_ok:
        level = "cpu_only"
        notes.append("CPU fallback: small models only, and the speed test decides whether deadlines can be met")
    else:
        level = "below_minimum"

    if any(g.vram_bytes is None for g in gpus):
        notes.append("a GPU's memory could not be read: enter it (Settings → Hardware) for a fit verdict")
    if any(g.unified for g in gpus):
        notes.append("unified memory: the GPU shares RAM with the system; run the speed test to see real speed")
    if any(g.vendor == "nvidia" for g in gpus) and nvidia_runtime is False:
        notes.append("NVIDIA GPU found but Docker has no 'nvidia' runtime: install nvidia-container-toolkit "
                     "if Ollama runs in a container (a host Ollama does not need it)")
    for d in disks:
        if d.free_bytes < DISK_ABORT_FREE:
            reasons.append(f"only {fmt_bytes(d.free_bytes)} free for {d.purpose} at {d.measured_path}: free at least 5 GiB")
            level = "below_minimum"
        elif d.free_bytes < DISK_WARN_FREE:
            notes.append(f"{fmt_bytes(d.free_bytes)} free for {d.purpose}: a model and the worker image need about 10 GiB")
    return level, checks, reasons, notes


def detect(
    *,
    manual_vram_bytes: int | None = None,
    disk_paths: Mapping[str, Path | str] | None = None,
    docker_runtimes: Iterable[str] | Callable[[], Iterable[str]] | None = None,
    run: RunFn = run_command,
    sysfs_root: Path = Path("/sys/class/drm"),
    gpu_ids: tuple[str, ...] = (),
) -> HardwareReport:
    """Full hardware report of this machine.

    ``docker_runtimes``: runtime names (or a callable returning them, e.g. from ``docker info``); None = unknown.
    ``manual_vram_bytes``: the user's figure for a GPU whose memory no tool reports.
    ``gpu_ids``: this worker's GPU group; the verdict counts those GPUs only (every GPU when empty).
    """
    from .gpu_groups import restrict

    cores = psutil.cpu_count(logical=True) or os.cpu_count() or 1
    physical = psutil.cpu_count(logical=False)
    ram = int(psutil.virtual_memory().total)
    machine = apply_manual_vram(detect_gpus(run, sysfs_root), manual_vram_bytes)
    gpus = restrict(machine, gpu_ids)
    disks = disk_info(default_disk_paths() if disk_paths is None else disk_paths)
    model_disk = next((d for d in disks if d.purpose == "ollama"), disks[0] if disks else None)
    runtime = _nvidia_runtime(docker_runtimes)
    level, checks, reasons, notes = assess(
        cores, ram, gpus, model_disk.total_bytes if model_disk else None, disks, runtime
    )
    return HardwareReport(
        os=platform.system() or sys.platform,
        arch=platform.machine(),
        cpu_model=_cpu_model(run),
        cpu_cores=cores,
        cpu_physical_cores=physical,
        ram_bytes=ram,
        gpus=tuple(gpus),
        disks=tuple(disks),
        nvidia_runtime=runtime,
        level=level,
        checks=tuple(checks),
        reasons=tuple(reasons),
        notes=tuple(notes),
        pinned_gpus=tuple(gpu_ids),
        machine_gpus=tuple(machine),
    )
