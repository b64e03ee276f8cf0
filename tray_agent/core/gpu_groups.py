"""One worker per GPU (or GPU group): the ``gpus`` setting, the GPUs a pinned worker sees, and the offer to run one
worker per GPU when a machine has several.

A profile pinned to GPU ids ``("1",)`` runs its worker container and its own Ollama with only those devices visible
(Docker device requests by id; ``CUDA_VISIBLE_DEVICES`` for a host ``ollama serve``); the fit check and the speed
test then count the memory of those GPUs only. Ids are the index the hardware check shows (NVML index for NVIDIA).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tray_agent.common.errors import ValidationError

from .gpus import GPU

MAX_GROUP = 16
FIX = "use GPU numbers from the hardware check, e.g. '1' or '0,1' (empty = every GPU)"


def parse_gpu_ids(value: Any) -> tuple[str, ...]:
    """``"0,1"``, ``[0, 1]`` or ``["0", "1"]`` → ``("0", "1")``; empty/None → ``()`` (every GPU)."""
    if value is None:
        return ()
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")] if value.strip() else []
    elif isinstance(value, (list, tuple)):
        parts = [str(p).strip() if isinstance(p, (str, int)) and not isinstance(p, bool) else "?" for p in value]
    else:
        raise ValidationError("gpus must be a list of GPU numbers", fix=FIX, field="gpus")
    for p in parts:
        if not p.isdigit() or len(p) > 3:
            raise ValidationError(f"{p[:20]!r} is not a GPU number", fix=FIX, field="gpus")
    ids = tuple(str(int(p)) for p in parts)
    if len(set(ids)) != len(ids):
        raise ValidationError("a GPU is named twice in gpus", fix=FIX, field="gpus")
    if len(ids) > MAX_GROUP:
        raise ValidationError(f"at most {MAX_GROUP} GPUs per worker", fix=FIX, field="gpus")
    return ids


def gpu_id(g: GPU) -> str:
    return str(g.index)


def restrict(gpus: Sequence[GPU], ids: Iterable[str]) -> list[GPU]:
    """The GPUs of the group ``ids`` (all of them when ``ids`` is empty). An id this machine does not have is an
    error naming the GPUs it has."""
    ids = tuple(ids)
    if not ids:
        return list(gpus)
    known = {gpu_id(g): g for g in gpus}
    missing = [i for i in ids if i not in known]
    if missing:
        have = ", ".join(f"{gpu_id(g)} ({g.name})" for g in gpus) or "none"
        raise ValidationError(f"this machine has no GPU {', '.join(missing)}",
                              fix=f"GPUs found by the hardware check: {have}", field="gpus")
    return [known[i] for i in ids]


def visible_devices_env(ids: Sequence[str]) -> dict[str, str]:
    """Environment that limits a host ``ollama serve`` to the group (NVIDIA CUDA and AMD ROCm)."""
    if not ids:
        return {}
    joined = ",".join(ids)
    return {"CUDA_VISIBLE_DEVICES": joined, "ROCR_VISIBLE_DEVICES": joined}


def group_ollama(profile: str, store: Any, ids: Sequence[str]) -> dict[str, Any]:
    """OllamaManager arguments of a pinned worker's own Ollama: its own loopback port (kept in ``store``, the
    network's worker.json), its own managed container name, and only its GPUs visible."""
    port = int(store.get("ollama_port") or 0)
    if not port:
        from .devnet import free_port

        port = free_port()
        store.update(ollama_port=port)
    return {"url": f"http://127.0.0.1:{port}", "container_name": f"lcai-ollama-{profile}", "gpu_ids": tuple(ids)}


def autostart_headless(profile: str, gpu_ids: Sequence[str]) -> bool:
    """An extra per-GPU worker (a pinned profile other than the default one) starts at login without a tray icon:
    the default profile's tray shows every worker of the machine."""
    from tray_agent.common.paths import DEFAULT_PROFILE

    return bool(gpu_ids) and profile != DEFAULT_PROFILE


def profile_for(g: GPU) -> str:
    return f"gpu{gpu_id(g)}"


def per_gpu_offer(gpus: Sequence[GPU], profile: str, pinned: Sequence[str]) -> dict[str, Any]:
    """What onboarding offers on a machine with several GPUs: this worker keeps the first GPU, one more worker
    (profile ``gpuN``) per other GPU, each with its own key, stake, container and Ollama."""
    usable = [g for g in gpus if g.vendor in ("nvidia", "amd") and not g.unified]
    if len(usable) < 2:
        return {"offer": False, "pinned": list(pinned)}
    mine = [g for g in usable if gpu_id(g) in pinned] or usable[:1]
    rest = [g for g in usable if g not in mine]
    first = mine[0]
    return {
        "offer": True,
        "pinned": list(pinned),
        "this_worker": {"profile": profile, "gpus": gpu_id(first), "name": first.name, "vram_bytes": first.vram_bytes},
        "others": [{"profile": profile_for(g), "gpus": gpu_id(g), "name": g.name, "vram_bytes": g.vram_bytes,
                    "command": f"lcai-tray --profile {profile_for(g)} setup --gpus {gpu_id(g)}"} for g in rest],
        "explain": (f"This machine has {len(usable)} GPUs. Each GPU can run its own worker: every worker gets its own "
                    "key, stake, container and Ollama, serves jobs from its own GPU only, and the fit check and speed "
                    "test count that GPU alone. Each extra worker needs its own stake and gas."),
    }
