"""The worker on this machine: its local config (served models, metrics port), its container spec and the
supervisor that keeps it online. Reports what it sees to the state owner; never decides the Status itself."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from tray_agent.common.errors import AgentError
from tray_agent.common.paths import Paths

from ..gpu_groups import group_ollama
from ..keys import KeyCustody
from ..networks import Network
from ..settings import Settings
from ..state_owner import StateOwner
from ..store import JsonStore

log = logging.getLogger(__name__)
FOREIGN_CHECK_S = 30.0
SUPERVISOR_TICK_S = 10.0


def cancel_of(progress):
    """The cancel event the operation runner attaches to an operation's progress callback (None outside one)."""
    return getattr(progress, "cancel", None)  # Docker events wake the supervisor at once on a crash; the tick is a safety net


class WorkerService:
    """One per network session: ``worker.json`` of the network, the spec, the supervisor and Ollama."""

    def __init__(self, paths: Paths, network: Network, settings: Settings, custody: KeyCustody,
                 owner: StateOwner, address: Callable[[], str | None], *, manage: bool = True):
        self.paths = paths
        self.network = network
        self.settings = settings
        self.custody = custody
        self.owner = owner
        self.address = address
        self.manage = manage
        self.store = JsonStore(paths.network_dir(network.name) / "worker.json", {"models": [], "metrics_port": 0})
        self.runtime = None   # runtime.supervisor.Supervisor while managed
        self.ollama = None    # runtime.ollama.OllamaManager (None on devnet without a configured Ollama)
        self._gpu: bool | None = None
        self._foreign_checked = 0.0
        self.sim_ollama_url = ""  # devnet: the simulated Ollama the session started

    # --- local config -----------------------------------------------------------------------------------
    def local_models(self) -> list[str]:
        return list(self.store.get("models") or [])

    def set_local_models(self, models: list[str]) -> None:
        """The container's SUPPORTED_MODELS (a change recreates it through the supervisor's config hash)."""
        self.store.update(models=list(models))
        self.wake()

    def metrics_port(self) -> int:
        """A loopback port for the worker's metrics, fixed per profile and network (host networking)."""
        port = int(self.store.get("metrics_port") or 0)
        if not port:
            from ..devnet import free_port

            port = 9101 if self.paths.profile == "default" and not self.network.simulated else free_port()
            self.store.update(metrics_port=port)
        return port

    # --- the container --------------------------------------------------------------------------------------
    def spec(self):
        """The wanted container, or None while setup is not finished. A locked keychain is reported as a fact."""
        from ..runtime.worker_container import WorkerSpec

        models = self.local_models()
        address = self.address()
        other = self._other_worker_running()  # looked for even without a worker of ours: the user sees it
        if not models or not address:
            return None
        if other:
            return None  # never a second worker beside one we do not manage
        try:
            password = self.custody.password()
        except AgentError as e:
            self.owner.report(secret_error=(e.message, e.fix))
            return None
        if self.owner.facts.secret_error is not None:
            self.owner.report(secret_error=None)
        extra_env = {"SIM_RELEASE": "false", "LCAI_DEVNET": "1"} if self.network.simulated else {}
        return WorkerSpec.build(self.paths, self.network, models, password, metrics_port=self.metrics_port(),
                                ollama_url=self.settings["ollama_url"] or self.sim_ollama_url or None,
                                extra_env=extra_env, gpu=self._has_gpu(), address=address,
                                gpu_ids=self.settings.gpu_ids())

    def _other_worker_running(self) -> bool:
        """Every FOREIGN_CHECK_S: remove this profile's stale containers, report foreign workers (a fact)."""
        import time

        if self.runtime is None:
            return bool(self.owner.facts.foreign)
        if time.monotonic() - self._foreign_checked < FOREIGN_CHECK_S:
            return bool(self.owner.facts.foreign)
        client = self.docker_client()
        if client is None:
            return bool(self.owner.facts.foreign)
        from ..runtime import foreign

        self._foreign_checked = time.monotonic()
        others, stale = foreign.scan(client, self.paths.container_name(self.network.name), self.paths.profile)
        foreign.remove_stale(stale)
        found = tuple(o.to_dict() for o in others)
        if found != self.owner.facts.foreign:
            self.owner.report(foreign=found)
        return bool(found)

    def container_log(self, lines: int = 200) -> dict:
        """The worker container's last ``lines`` log lines, redacted (keys, passwords, tokens never shown)."""
        from tray_agent.common.redact import redact

        name = self.paths.container_name(self.network.name)
        client = self.docker_client()
        if client is None:
            raise AgentError("Docker is not reachable, so the worker's log cannot be read",
                             fix="start Docker, then try again", code="docker_down")
        import docker

        try:
            raw = client.containers.get(name).logs(tail=max(1, min(5000, int(lines))), timestamps=True)
        except docker.errors.NotFound:
            return {"container": name, "lines": [], "running": False}
        text = redact(raw.decode("utf-8", errors="replace"))
        return {"container": name, "lines": text.splitlines(), "running": True}

    def docker_client(self):
        return self.runtime.docker_client(quiet=True) if self.runtime is not None else None

    def _has_gpu(self) -> bool:
        """NVIDIA container runtime present? Asked once (docker info), not on every supervisor tick."""
        if self.network.simulated or self.runtime is None:
            return False
        if self._gpu is None:
            from ..runtime.worker_container import nvidia_runtime

            client = self.docker_client()
            self._gpu = nvidia_runtime(client) if client is not None else None  # None: ask again next time
        return bool(self._gpu)

    def reconcile_with_chain(self, chain, busy: bool) -> None:
        """The container serves exactly the on-chain list (lesson 44): a difference (another tool changed the chain,
        or a model change was interrupted) is logged, notified and fixed by serving the on-chain set; a model
        served but not listed gets no jobs, one listed but not served makes jobs time out as offences."""
        local = self.local_models()
        if chain is None or not chain.registered or not chain.served_models or not local or busy:
            return
        if set(chain.served_models) == set(local):
            return
        log.warning("served models differ: container %s, on chain %s: serving the on-chain set", local,
                    list(chain.served_models))
        self.set_local_models(list(chain.served_models))
        self.owner.notify({"kind": "models_reconciled", "title": "Served models corrected",
                           "message": f"The worker now serves the on-chain list: {', '.join(chain.served_models)} "
                                      f"(it served {', '.join(local)}).", "level": "warning"})

    # --- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.ollama = self._ollama_manager()
        if not self.manage:
            return
        if self.ollama is not None and self.local_models():
            # lesson 8: Ollama starts beside Docker (the supervisor starts the engine), not after it
            threading.Thread(target=self._start_ollama, name="ollama-start", daemon=True).start()
        from functools import partial

        from ..runtime import docker_engine
        from ..runtime.supervisor import Supervisor, SupervisorConfig

        start_engine = partial(docker_engine.start_engine_logged, self.paths.logs / "docker-start.log",
                               self.paths.data)  # free disk first (lesson 7), attempts kept (lesson 10)
        self.runtime = Supervisor(self.paths, self.spec, self._on_runtime, config=SupervisorConfig(
            interval=SUPERVISOR_TICK_S), ollama=self.ollama, start_engine=start_engine)
        self.runtime.start()

    def stop(self, keep_worker: bool = True, remove: bool = False) -> None:
        """Stop supervising; ``keep_worker=False`` stops the container (after its jobs drain), ``remove=True``
        removes it too (network switch: no unwatched container is left behind)."""
        sup, self.runtime = self.runtime, None
        if sup is None:
            return
        if not keep_worker:
            try:
                sup.pause("agent stopped with the worker")
                if remove:
                    sup.remove_container()
            except Exception as e:  # Docker gone: nothing to stop
                log.warning("could not stop the worker: %s", e)
        sup.stop()

    def retire(self, progress) -> bool:
        """Network switch: wait for running jobs (a cancel raises and leaves this worker running), then stop and
        remove the container while it is still supervised. True when the user had paused it before."""
        if self.runtime is None:
            return False
        was_paused = self.runtime.paused
        self.runtime.pause("switching network", on_progress=progress, cancel=cancel_of(progress))
        self.runtime.remove_container(on_progress=progress)
        return was_paused

    def follow_era(self, sortition: bool, session_manager: str) -> None:
        """Run the worker in the mode the chain is in (sortition on/off and its SessionManager), whatever the
        shipped table says; a change recreates the container through its config hash (after the drain)."""
        manager = session_manager or self.network.session_manager
        if (sortition, manager) == (self.network.sortition_enabled, self.network.session_manager):
            return
        log.warning("the chain says sortition=%s (session manager %s): the worker follows it", sortition, manager)
        self.network = self.network.replace(sortition_enabled=sortition, session_manager=manager)
        self.wake()

    def use_ollama_url(self) -> None:
        """A changed Ollama URL takes effect at once: a new manager for pinning, pulls and the speed test (the
        container follows through its config hash)."""
        from ..runtime.pinning import ModelPinner

        self.ollama = self._ollama_manager()
        if self.runtime is not None:
            self.runtime.ollama = self.ollama
            self.runtime.pinner = ModelPinner(self.ollama, self.paths.data / "served-models.json") \
                if self.ollama is not None else None
        self.wake()

    def _start_ollama(self) -> None:
        try:
            self.ollama.ensure_running()
        except Exception as e:  # the supervisor reports Ollama down; the log keeps why
            log.warning("Ollama did not start: %s", e)

    def _on_runtime(self, fields: dict[str, Any]) -> None:
        """The supervisor's report: merged into the runtime facts (extra merged key by key)."""
        def change(f):
            rt = {**f.runtime, **fields}
            if "extra" in fields:
                rt["extra"] = {**(f.runtime.get("extra") or {}), **fields["extra"]}
            return f.with_(runtime=rt)

        self.owner.apply(change)

    def _ollama_manager(self):
        url = self.settings["ollama_url"] or self.sim_ollama_url
        if self.network.simulated and not url:
            return None  # devnet without the simulated Ollama: the simulated worker answers without one
        from ..runtime.images import ImagePins
        from ..runtime.ollama import OllamaManager

        group = self.settings.gpu_ids() if not url else ()  # a URL the user set is used as is, unpinned
        kw = group_ollama(self.paths.profile, self.store, group) if group else {}
        return OllamaManager(url or kw.pop("url", "http://127.0.0.1:11434"), docker_client=self.docker_client,
                             serve_log=self.paths.logs / "ollama-serve.log",
                             pins=ImagePins(self.paths.data / "image-pins.json"), **kw)

    def wake(self) -> None:
        if self.runtime is not None:
            self.runtime.wake()

    def supervisor(self):
        """The running supervisor, or a clear error when this agent does not manage the worker container."""
        if self.runtime is None:
            raise AgentError("the worker container is not managed by this agent process",
                             fix="run the agent with 'lcai-tray serve' (or the tray), which manages the worker",
                             code="worker_unmanaged")
        return self.runtime

    def active_jobs(self) -> int:
        """Jobs the worker runs now; unreadable metrics count as busy (never stop or unload then)."""
        n = self.runtime.active_jobs() if self.runtime is not None else 0
        return 1 if n is None else n

    def hold(self, reason: str) -> AbstractContextManager[None]:
        from contextlib import nullcontext

        return self.runtime.hold(reason) if self.runtime is not None else nullcontext()

    def writer_hooks(self) -> tuple[Callable[[], int], Callable[[], None], Callable[[], None]] | None:
        """(active_jobs, pause, resume) for the one-writer gate, or None when no container is managed."""
        if self.runtime is None:
            return None
        holder: dict[str, Any] = {}

        def pause() -> None:
            holder["cm"] = self.hold("sending a transaction from the worker key")
            holder["cm"].__enter__()

        def resume() -> None:
            cm = holder.pop("cm", None)
            if cm is not None:
                cm.__exit__(None, None, None)

        return (lambda: self.runtime.active_jobs() or 0 if self.runtime else 0), pause, resume

    def ensure_runnable(self, progress) -> None:
        """Install order (reference app §12): Docker answers and the worker image is here before any stake is
        sent; otherwise stop at this step with the fix and stake nothing."""
        if not self.manage:
            return
        from ..runtime import images

        client = self.docker_client()
        if client is None:
            raise AgentError("Docker is not reachable, so nothing was staked",
                             fix="start Docker (Docker Desktop, or 'sudo systemctl start docker'), then press "
                                 "Continue again", code="docker_down")
        ref = images.SIM_IMAGE if self.network.simulated and not self.network.image else self.network.image
        progress(f"checking the worker image {ref}", None)

        def on_progress(p):
            progress(f"pulling the worker image: {p.done_bytes >> 20} of {p.total_bytes >> 20} MiB", p.fraction)

        try:
            images.ensure_image(client, ref, on_progress)
        except images.ImageError as e:
            raise AgentError(f"the worker image is not available, so nothing was staked: {e.message}", fix=e.fix,
                             code="image_missing") from None

    # --- user operations -------------------------------------------------------------------------------------
    def op_start(self, progress) -> dict:
        sup = self.supervisor()
        if not self.local_models():
            raise AgentError("setup is not finished", fix="finish onboarding first", code="setup_needed")
        sup.resume()
        progress("starting the worker", None)
        return {"started": True}

    def op_stop(self, progress) -> dict:
        sup = self.supervisor()
        progress("stopping the worker once its running jobs finish", None)
        sup.pause("stopped by user", on_progress=progress, cancel=cancel_of(progress))
        return {"stopped": True, **self.stop_consequence()}

    def op_stop_now(self, progress) -> dict:
        """Stop without waiting: each running job is cancelled and later counts as an offence."""
        sup = self.supervisor()
        cancelled = sup.stop_now("stopped now by user")
        progress(f"stopped; {cancelled} running {'job was' if cancelled == 1 else 'jobs were'} cancelled", 1.0)
        return {"stopped": True, "cancelled_jobs": cancelled, **self.stop_consequence()}

    def stop_consequence(self) -> dict:
        """What stopping means right now, in numbers and words (shown before Stop is confirmed)."""
        facts = self.owner.facts
        registered = bool(facts.chain and facts.chain.registered)
        running = self.runtime.active_jobs() if self.runtime is not None else 0
        sessions = facts.claimed_sessions if registered else 0
        words = []
        if running:
            words.append(f"{running} running {'job finishes' if running == 1 else 'jobs finish'} first (Stop now "
                         "cancels them; each cancelled job counts as an offence)")
        if registered:
            words.append("while the worker stays registered, the network keeps sending it jobs"
                         + (f" through {sessions} claimed {'session' if sessions == 1 else 'sessions'}" if sessions
                            else "") + "; each one that times out counts as an offence and can be slashed. "
                         "To leave safely, Deregister instead")
        return {"registered": registered, "running_jobs": running, "claimed_sessions": sessions,
                "consequence": "; ".join(words) or "nothing is running and the worker is not registered"}

    def op_restart(self, progress) -> dict:
        sup = self.supervisor()
        progress("restarting the worker once its running jobs finish", None)
        sup.restart(on_progress=progress, cancel=cancel_of(progress))
        return {"restarted": True}

    def op_update_image(self, progress) -> dict:
        """Pull the newer worker image; the supervisor recreates the worker on it (after the drain grace)."""
        sup = self.supervisor()

        def on_progress(p):
            progress(f"pulling the worker image: {p.done_bytes >> 20} of {p.total_bytes >> 20} MiB", p.fraction)

        info = sup.update_image(on_progress, on_drain=progress, cancel=cancel_of(progress))
        return {"image": getattr(info, "ref", ""), "digest": getattr(info, "digest", ""),
                "old_digest": getattr(info, "old_digest", "")}

    def op_free_memory(self, progress) -> dict:
        if self.ollama is None:
            return {"unloaded": []}
        if self.runtime is not None and not self.runtime.paused:
            raise AgentError("the worker is running and needs its models in memory",
                             fix="stop the worker first, then free memory", code="worker_running")
        self.ollama.unload()
        progress("models unloaded", 1.0)
        return {"unloaded": True}

    def remove_container(self, reason: str, progress=None) -> None:
        if self.runtime is not None:
            self.runtime.pause(reason, on_progress=progress, cancel=cancel_of(progress))
            self.runtime.remove_container(on_progress=progress)
        self.set_local_models([])
