"""Models: what the network offers, what fits this machine, and getting them into Ollama before they are
registered or advertised."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tray_agent.common.errors import AgentError, ValidationError

from ..networks import Network
from ..settings import Settings
from .chain_sync import ChainSync
from .worker import WorkerService, cancel_of

log = logging.getLogger(__name__)
GiB = 1024**3  # pull progress in the unit the UI uses for memory and disk
MAX_MODELS = 16


def check_model_list(models: Any) -> list[str]:
    """The shape of a model list (no chain needed): a non-empty list of at most MAX_MODELS names."""
    if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
        raise ValidationError("Choose at least one model to serve.", fix="tick one or more models in the list",
                              field="models")
    if len(models) > MAX_MODELS:
        raise ValidationError(f"Too many models: at most {MAX_MODELS} can be served at once.",
                              fix="serve fewer models", field="models")
    return models


def ollama_models_dir() -> Path:
    """Where a host Ollama keeps its models (OLLAMA_MODELS, else ~/.ollama)."""
    return Path(os.environ.get("OLLAMA_MODELS") or Path.home() / ".ollama")


class ModelService:
    def __init__(self, network: Network, settings: Settings, sync: ChainSync, worker: WorkerService,
                 devnet_models: list[str] | None, chosen: Callable[[], list[str]],
                 wait_ready: Callable[[float], None]):
        self.network = network
        self.settings = settings
        self.sync = sync
        self.worker = worker
        self.devnet_models = devnet_models
        self.chosen = chosen
        self.wait_ready = wait_ready
        self._hardware = None  # hardware.HardwareReport, detected on first use

    # --- what the network offers ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Model names to read fees for: the catalogue (and the devnet's own models first)."""
        from ..catalog import catalog_for

        names = [e.name for e in catalog_for(self.network)]
        if self.devnet_models:
            names = list(dict.fromkeys([*self.devnet_models, *names]))
        return names

    def _snapshot(self, timeout: float = 30.0):
        """The latest chain snapshot, reading one now when none exists yet (right after start-up)."""
        if self.sync.snapshot is None:
            self.wait_ready(timeout)
            try:
                self.sync.refresh()
            except AgentError as e:
                log.info("chain not readable yet: %s", e)
        return self.sync.snapshot

    def _fees(self) -> dict[str, int] | None:
        snap = self.sync.snapshot
        if snap is None or not snap.models:
            return None
        return {m.name: m.fee_wei for m in snap.models if m.fee_wei}

    def allowed(self) -> set[str]:
        snap = self._snapshot()
        if snap is not None and snap.models:
            return {m.name for m in snap.models if m.whitelisted and m.enabled}
        if self.devnet_models:
            return set(self.devnet_models)
        from ..catalog import catalog_for

        return {e.name for e in catalog_for(self.network)}

    def validate(self, models: Any) -> list[str]:
        check_model_list(models)
        allowed = self.allowed()
        out: list[str] = []
        for m in models:
            if m not in allowed:
                shown = m if len(m) <= 64 and m.isprintable() else repr(m[:64])
                raise ValidationError(f"The model {shown} is not offered on {self.network.name}.",
                                      fix=f"choose from: {', '.join(sorted(allowed))}", field="models")
            if m not in out:
                out.append(m)
        return out

    # --- this machine -----------------------------------------------------------------------------------------
    def hardware(self):
        """Hardware report, detected once (and again after the user enters the GPU memory)."""
        from ..hardware import detect, runtimes_from_docker_info

        if self._hardware is None:
            def runtimes():
                client = self.worker.docker_client()
                return runtimes_from_docker_info(client.info()) if client else []

            self._hardware = detect(docker_runtimes=runtimes, manual_vram_bytes=self.settings["manual_vram_bytes"],
                                    gpu_ids=self.settings.gpu_ids())
        return self._hardware

    def hardware_view(self, profile: str) -> dict:
        """The hardware report of this worker's GPU group, with the one-worker-per-GPU offer of the machine."""
        from ..gpu_groups import per_gpu_offer

        report = self.hardware()
        return {**report.to_dict(), "per_gpu": per_gpu_offer(report.machine_gpus, profile, report.pinned_gpus)}

    def check_gpu_ids(self, ids: list[str], profile: str) -> None:
        """Refuse a GPU group naming a GPU this machine does not have (the error lists the ones it has) or one that
        another worker on this machine is pinned to (two workers on one GPU compete for its memory)."""
        from tray_agent.common.paths import machine_profiles
        from tray_agent.common.siblings import discover

        from ..gpu_groups import restrict
        from ..gpus import apply_manual_vram, detect_gpus

        restrict(apply_manual_vram(detect_gpus(), self.settings["manual_vram_bytes"]), ids)
        others = discover(profiles=[p for p in machine_profiles() if p != profile], with_settings=True)
        for w in others.running:
            shared = sorted(set(ids) & set(w.gpus))
            if shared:
                raise ValidationError(f"GPU {', '.join(shared)} is already used by the worker '{w.profile}' on this "
                                      "machine", fix=f"pin this worker to another GPU, or change '{w.profile}' first",
                                      field="gpus")

    def forget_hardware(self) -> None:
        self._hardware = None

    def view(self, served: set[str]) -> dict:
        from ..catalog import catalog_for, entry_for, footprint
        from ..fit import memory_budget

        kind, capacity = memory_budget(self.hardware())
        allowed = self.allowed()
        served = served | set(self.worker.local_models())
        pulled = self._pulled()
        fees = self._fees()
        entries = {e.name: e for e in catalog_for(self.network, fees_wei=fees)}
        for name in sorted(allowed - set(entries)):
            entries[name] = entry_for(name, self.network, fees_wei=fees)
        rows = []
        for e in entries.values():
            if e.name not in allowed:
                continue
            rows.append({**e.to_dict(), "fee_wei": str(e.fee_wei) if e.fee_wei is not None else None,
                         "footprint_bytes": footprint(e).total_bytes, "served": e.name in served,
                         "pulled": e.name in pulled if pulled is not None else None})
        return {"catalog": rows, "memory_kind": kind, "capacity_bytes": capacity, "served": sorted(served),
                "chosen": self.chosen()}

    def _pulled(self) -> set[str] | None:
        if self.worker.ollama is None:
            return None
        try:
            return self.worker.ollama.tags()
        except Exception:
            return None

    def fit(self, models: list[str]) -> dict:
        from ..fit import fit_models

        res = fit_models(models, self.network, self.hardware(), fees_wei=self._fees())
        if res is None:
            return {"verdict": "unknown", "reasons": ["the GPU's memory is unknown: enter it in Settings"],
                    "total_bytes": None, "capacity_bytes": None}
        return res.to_dict()

    def footprints(self, names: list[str]) -> tuple[dict[str, int], int | None]:
        """(bytes each model needs loaded, bytes usable for models after headroom — None when unknown): the
        numbers of the fit rule, for the model-set suggestion."""
        from ..catalog import entry_for, footprint
        from ..fit import headroom_for, memory_budget

        kind, capacity = memory_budget(self.hardware())
        fees = self._fees()
        fps = {n: footprint(entry_for(n, self.network, fees_wei=fees)).total_bytes for n in names}
        return fps, None if capacity is None else capacity - headroom_for(capacity, kind)

    # --- Ollama -------------------------------------------------------------------------------------------------
    def prepare(self, models: list[str], progress) -> None:
        """Pull and verify every model under its exact name before it is registered or advertised."""
        ol = self.worker.ollama
        if ol is None:
            progress("devnet: the simulated worker serves these models without Ollama", None)
            return
        if not ol.ensure_running():
            raise AgentError("Ollama is not running and could not be started",
                             fix="install Ollama (ollama.com) or make sure Docker can run the ollama/ollama image",
                             code="ollama_down")
        from ..catalog import entry_for
        from ..diskspace import require_free

        have = self._pulled() or set()
        for i, m in enumerate(models):
            if m not in have:  # lesson 7: a pull that fills the disk bricks Docker and Ollama alike
                size = entry_for(m, self.network).disk_bytes or 0
                require_free(ollama_models_dir(), size, f"downloading {m}")

            def on_progress(p, m=m, i=i):
                done = f"{p.completed / GiB:.1f} of {p.total / GiB:.1f} GiB" if p.total else p.status
                progress(f"downloading {m}: {done}", (i + p.fraction) / len(models))

            ol.ensure_models([m], on_progress)
        ol.verify_present(models)
        progress("models present in Ollama", 1.0)

    def speedtest(self, models: list[str], progress):
        from ..speedtest import run_speed_test

        models = models or self.worker.local_models() or self.chosen()
        if not models:
            raise ValidationError("no models to test", fix="choose models first", field="models")
        if self.worker.ollama is None:
            raise AgentError("no Ollama to test against on this network",
                             fix="set an Ollama URL in Settings (devnet simulates inference)", code="ollama_down")
        from ..deadline import completion_timeout_s

        result = run_speed_test(self.worker.ollama.url, models, active_jobs=self.worker.active_jobs,
                                progress=progress, deadline_s=completion_timeout_s(self.sync.chain),
                                cancel=cancel_of(progress))
        return self._with_group(result)

    def _with_group(self, result):
        """The speed test ran on this worker's own Ollama, which sees only its GPU group: say which GPUs."""
        try:
            result.gpus = [{"id": str(g.index), "name": g.name, "vram_bytes": g.vram_bytes}
                           for g in self.hardware().gpus]
        except AgentError as e:
            log.info("speed test without the GPU list: %s", e)
        return result
