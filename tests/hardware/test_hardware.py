"""Hardware detection: this machine for real, NVML / Apple / AMD through recorded library and tool outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import psutil
import pynvml
import pytest

from tray_agent.core import gpus
from tray_agent.core import hardware as hw
from tray_agent.core.hardware import GB, GPU, DiskInfo, GiB

# --------------------------------------------------------------------------- this machine


def test_this_machine_matches_proc_and_psutil(tmp_path: Path) -> None:
    r = hw.detect(disk_paths={"ollama": tmp_path / "missing" / "models", "docker": tmp_path})
    meminfo = Path("/proc/meminfo").read_text()
    kb = int(next(line.split()[1] for line in meminfo.splitlines() if line.startswith("MemTotal:")))
    assert r.ram_bytes == kb * 1024  # exact, not rounded or truncated
    assert r.cpu_cores == os.cpu_count() == psutil.cpu_count()
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), None)
    if model:
        assert r.cpu_model == model
    ollama = next(d for d in r.disks if d.purpose == "ollama")
    assert ollama.measured_path == str(tmp_path)  # nearest existing parent of a path that does not exist yet
    st = os.statvfs(tmp_path)
    assert abs(ollama.free_bytes - st.f_bavail * st.f_frsize) < 256 * 1024**2
    assert ollama.total_bytes == st.f_blocks * st.f_frsize
    json.dumps(r.to_dict())  # JSON-friendly
    assert r.nvidia_runtime is None  # not asked


def test_this_machine_has_no_gpu_and_no_invented_vram() -> None:
    # No NVIDIA driver here: NVML reports "library not found", so nothing is made up.
    with pytest.raises(pynvml.NVMLError):
        pynvml.nvmlInit()
    r = hw.detect(disk_paths={})
    if Path("/sys/class/drm").exists():
        pytest.skip("this machine exposes DRM cards")
    assert r.gpus == () and r.gpu_memory_bytes is None
    assert r.level in ("cpu_only", "below_minimum")
    vram = next(c for c in r.checks if c.name == "vram")
    assert vram.status == "below_minimum" and "no GPU" in vram.reason


def test_nearest_existing(tmp_path: Path) -> None:
    assert hw.nearest_existing(tmp_path / "a" / "b" / "c") == tmp_path
    assert hw.nearest_existing(tmp_path) == tmp_path


# --------------------------------------------------------------------------- NVML (recorded)

RTX_4090_TOTAL = 25_757_220_864  # nvmlDeviceGetMemoryInfo(h).total on an RTX 4090 (24564 MiB)
RTX_3060_TOTAL = 12_884_901_888


@pytest.fixture
def nvml(monkeypatch):
    """Replace pynvml's C-library calls with values recorded on a two-GPU host."""
    devices = [("NVIDIA GeForce RTX 4090", RTX_4090_TOTAL), (b"NVIDIA GeForce RTX 3060", RTX_3060_TOTAL)]
    state = {"init": 0, "shutdown": 0, "unsupported": set()}

    def get_memory(h):
        if h in state["unsupported"]:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return SimpleNamespace(total=devices[h][1], free=devices[h][1] - 500 * 1024**2, used=500 * 1024**2)

    monkeypatch.setattr(pynvml, "nvmlInit", lambda: state.__setitem__("init", state["init"] + 1))
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: state.__setitem__("shutdown", state["shutdown"] + 1))
    monkeypatch.setattr(pynvml, "nvmlSystemGetDriverVersion", lambda: "550.54.15")
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", lambda: len(devices))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", lambda i: i)
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", lambda h: devices[h][0])
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMemoryInfo", get_memory)
    return state


def test_nvml_every_gpu_exact_vram(nvml) -> None:
    gpus = hw.detect_nvidia()
    assert [(g.name, g.vram_bytes, g.index, g.driver, g.source) for g in gpus] == [
        ("NVIDIA GeForce RTX 4090", RTX_4090_TOTAL, 0, "550.54.15", "nvml"),
        ("NVIDIA GeForce RTX 3060", RTX_3060_TOTAL, 1, "550.54.15", "nvml"),
    ]
    assert nvml["init"] == nvml["shutdown"] == 1


def test_nvml_unsupported_memory_is_unknown_then_manual(nvml, monkeypatch) -> None:
    nvml["unsupported"].add(0)
    gpus = hw.detect_nvidia()
    assert gpus[0].vram_bytes is None and gpus[1].vram_bytes == RTX_3060_TOTAL
    filled = hw.apply_manual_vram(gpus, 24 * GiB)
    assert filled[0].vram_bytes == 24 * GiB and filled[0].source == "manual"
    assert filled[1].vram_bytes == RTX_3060_TOTAL and filled[1].source == "nvml"  # known values are not overwritten


def test_detect_with_nvml_and_runtime(nvml, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    r = hw.detect(disk_paths={"ollama": tmp_path}, docker_runtimes=lambda: ["io.containerd.runc.v2", "nvidia", "runc"],
                  sysfs_root=tmp_path / "no-drm")
    assert r.gpu_memory_bytes == RTX_4090_TOTAL + RTX_3060_TOTAL
    assert r.nvidia_runtime is True
    assert next(c for c in r.checks if c.name == "vram").status == "recommended"


def test_nvml_missing_library_gives_no_gpus(monkeypatch) -> None:
    def boom():
        raise pynvml.NVMLError_LibraryNotFound(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", boom)
    assert hw.detect_nvidia() == []


# --------------------------------------------------------------------------- tools (recorded subprocess output)


@pytest.fixture
def tools(monkeypatch):
    """Recorded tool outputs at the subprocess boundary: {argv tuple: stdout}. Missing tools are not on PATH."""
    outputs: dict[tuple[str, ...], str] = {}
    calls: list[list[str]] = []

    def which(cmd, *a, **k):
        return f"/usr/bin/{cmd}" if any(argv[0] == cmd for argv in outputs) else None

    def run(argv, **kwargs):
        calls.append(list(argv))
        out = outputs.get(tuple(argv))
        return subprocess.CompletedProcess(argv, 0 if out is not None else 1, out or "", "")

    monkeypatch.setattr(gpus.shutil, "which", which)
    monkeypatch.setattr(gpus.subprocess, "run", run)
    return SimpleNamespace(outputs=outputs, calls=calls)


def test_apple_silicon_unified_memory(tools, monkeypatch) -> None:
    tools.outputs.update({
        ("sysctl", "-n", "machdep.cpu.brand_string"): "Apple M2 Pro\n",
        ("sysctl", "-n", "hw.memsize"): "34359738368\n",
        ("sysctl", "-n", "iogpu.wired_limit_mb"): "0\n",
    })
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(hw, "detect_nvidia", lambda: [])
    [gpu] = hw.detect_gpus()
    assert gpu.vendor == "apple" and gpu.unified and gpu.vram_bytes == 34_359_738_368
    assert gpu.usable_bytes == 34_359_738_368 * 2 // 3  # Metal working set ≤ 36 GiB
    assert gpu.name == "Apple M2 Pro GPU"
    assert hw.metal_working_set(64 * GiB) == 48 * GiB
    tools.outputs[("sysctl", "-n", "iogpu.wired_limit_mb")] = "28672\n"  # user raised the GPU wired limit
    assert hw.detect_gpus()[0].usable_bytes == 28 * GiB


def test_intel_mac_has_no_unified_gpu(tools, monkeypatch) -> None:
    tools.outputs[("sysctl", "-n", "machdep.cpu.brand_string")] = "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz\n"
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(hw, "detect_nvidia", lambda: [])
    assert hw.detect_gpus() == []


ROCM_SMI_JSON = json.dumps({
    "card0": {
        "Card Series": "Radeon RX 7900 XTX", "Card Model": "0x744c",
        "Card Vendor": "Advanced Micro Devices, Inc. [AMD/ATI]", "Card SKU": "EXT",
        "VRAM Total Memory (B)": "25753026560", "VRAM Total Used Memory (B)": "1091432448",
    },
    "card1": {
        "Card Series": "Instinct MI210", "Card Model": "0x740f",
        "VRAM Total Memory (B)": "68702699520", "VRAM Total Used Memory (B)": "11239424",
    },
})


def test_amd_rocm_smi(tools, monkeypatch, tmp_path) -> None:
    tools.outputs[("rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json")] = ROCM_SMI_JSON
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(hw, "detect_nvidia", lambda: [])
    gpus = hw.detect_gpus(sysfs_root=tmp_path)
    assert [(g.name, g.vendor, g.vram_bytes, g.index) for g in gpus] == [
        ("Radeon RX 7900 XTX", "amd", 25_753_026_560, 0),
        ("Instinct MI210", "amd", 68_702_699_520, 1),
    ]


def _card(root: Path, name: str, vendor: str, device: str, vram: str | None) -> None:
    d = root / name / "device"
    d.mkdir(parents=True)
    (d / "vendor").write_text(vendor + "\n")
    (d / "device").write_text(device + "\n")
    if vram is not None:
        (d / "mem_info_vram_total").write_text(vram + "\n")


def test_amd_sysfs_and_unknown(tools, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(hw, "detect_nvidia", lambda: [])
    _card(tmp_path, "card0", "0x1002", "0x73bf", "17163091968")  # RX 6800 via amdgpu
    (tmp_path / "card0-DP-1").mkdir()  # connector, not a card
    _card(tmp_path, "card1", "0x8086", "0x4680", None)  # Intel iGPU: ignored
    _card(tmp_path, "card2", "0x1a03", "0x2000", None)  # ASPEED BMC display: ignored
    _card(tmp_path, "card3", "0x1002", "0x6779", None)  # old radeon driver: no VRAM file → unknown
    gpus = hw.detect_gpus(sysfs_root=tmp_path)
    assert [(g.vendor, g.vram_bytes, g.index) for g in gpus] == [("amd", 17_163_091_968, 0), ("amd", None, 3)]
    assert all(g.source == "sysfs" for g in gpus)


def test_unknown_vram_level_and_manual_entry(tools, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(hw, "detect_nvidia", lambda: [])
    _card(tmp_path / "drm", "card0", "0x1002", "0x6779", None)
    r = hw.detect(disk_paths={}, sysfs_root=tmp_path / "drm")
    assert r.vram_unknown and r.gpu_memory_bytes is None
    assert next(c for c in r.checks if c.name == "vram").status == "unknown"
    assert any("could not be read" in n for n in r.notes)
    r2 = hw.detect(disk_paths={}, sysfs_root=tmp_path / "drm", manual_vram_bytes=16 * GiB)
    assert r2.gpu_memory_bytes == 16 * GiB and r2.gpus[0].source == "manual"


def test_run_command_missing_tool() -> None:
    assert hw.run_command(["definitely-not-a-tool-xyz"]) is None
    assert hw.run_command([sys.executable, "-c", "print('hi')"]) == "hi\n"
    assert hw.run_command([sys.executable, "-c", "import sys; sys.exit(3)"]) is None


# --------------------------------------------------------------------------- verdict table

GPU24 = GPU("RTX 4090", "nvidia", RTX_4090_TOTAL, "nvml")
GPU12 = GPU("RTX 3060", "nvidia", RTX_3060_TOTAL, "nvml")
GPU6 = GPU("RTX 2060", "nvidia", 6 * GiB, "nvml")
UNKNOWN = GPU("Radeon", "amd", None, "sysfs")
BIG_DISK = [DiskInfo("ollama", "/m", "/m", 500 * GB, 2000 * GB)]


@pytest.mark.parametrize(
    ("cores", "ram", "gpus", "storage", "level"),
    [
        (16, 64 * GiB, [GPU24], 2000 * GB, "recommended"),
        (32, 128 * GiB, [GPU24, GPU12], 4000 * GB, "recommended"),
        (8, 32 * GiB, [GPU12], 1000 * GB, "ok"),
        (16, 64 * GiB, [GPU24], 512 * GB, "ok"),  # small disk only stops "recommended"
        (4, 16 * GiB - 700 * 1024**2, [GPU12], 512 * GB, "ok"),  # nominal 16 GB laptop reporting 15.3 GiB
        (8, 32 * GiB, [], 1000 * GB, "cpu_only"),
        (8, 32 * GiB, [GPU6], 1000 * GB, "cpu_only"),
        (8, 32 * GiB, [UNKNOWN], 1000 * GB, "unknown"),
        (2, 24 * GiB, [], 270 * GB, "below_minimum"),  # this sandbox
        (8, 8 * GiB, [GPU12], 1000 * GB, "below_minimum"),
        (3, 64 * GiB, [GPU24], 2000 * GB, "below_minimum"),
        (8, 12 * GiB, [], 1000 * GB, "below_minimum"),
    ],
)
def test_verdict_table(cores, ram, gpus, storage, level) -> None:
    got, checks, reasons, notes = hw.assess(cores, ram, gpus, storage, BIG_DISK, None)
    assert got == level
    failing = [c for c in checks if c.name != "storage" and c.status in ("below_minimum", "unknown")]
    assert len(reasons) == len(failing)  # every failing check explains itself
    if storage < 512 * GB * 90 // 100:
        assert any("storage" not in n and "GiB total" in n for n in notes)


def test_low_free_disk_blocks_and_warns() -> None:
    low = [DiskInfo("ollama", "/m", "/m", 3 * GiB, 2000 * GB)]
    level, _, reasons, _ = hw.assess(16, 64 * GiB, [GPU24], 2000 * GB, low, None)
    assert level == "below_minimum" and "free at least 5 GiB" in reasons[-1]
    warn = [DiskInfo("docker", "/d", "/d", 10 * GiB, 2000 * GB)]
    level, _, _, notes = hw.assess(16, 64 * GiB, [GPU24], 2000 * GB, warn, None)
    assert level == "recommended" and any("about 10 GiB" in n for n in notes)


def test_nvidia_runtime_missing_is_a_note() -> None:
    _, _, _, notes = hw.assess(16, 64 * GiB, [GPU24], 2000 * GB, BIG_DISK, False)
    assert any("nvidia-container-toolkit" in n for n in notes)
    _, _, _, notes = hw.assess(16, 64 * GiB, [GPU24], 2000 * GB, BIG_DISK, True)
    assert not any("nvidia" in n for n in notes)


def test_docker_runtimes() -> None:
    info = {"Runtimes": {"runc": {"path": "runc"}, "nvidia": {"path": "nvidia-container-runtime"}}}
    assert hw.runtimes_from_docker_info(info) == ["nvidia", "runc"]
    assert hw._nvidia_runtime(hw.runtimes_from_docker_info(info)) is True
    assert hw._nvidia_runtime(["runc"]) is False

    def unreachable():
        raise ConnectionError("docker down")

    assert hw._nvidia_runtime(unreachable) is None
    assert hw._nvidia_runtime(None) is None


def test_manual_vram_without_gpu_and_validation() -> None:
    assert hw.apply_manual_vram([], 8 * GiB)[0].source == "manual"
    assert hw.apply_manual_vram([], None) == []
    with pytest.raises(ValueError):
        hw.apply_manual_vram([], 0)
