"""The Agent facade: owns settings, keys, chain client, supervisor, history and the serial operation runner.

The API, CLI and tray only call this; none of them does work of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tray_agent.common.errors import AgentError, NotFoundError, ValidationError
from tray_agent.common.paths import Paths
from tray_agent.common.status import Alert, Status, WorkerState

from . import integration, operations
from .events import EventBus
from .history import History
from .keys import KeyCustody, open_secret_store
from .networks import Network, funding_threshold_wei, load_networks, validate_network_name
from .onboarding import Onboarding
from .runner import OperationRunner
from .settings import Settings

log = logging.getLogger(__name__)


class Agent:
    """One agent per profile. ``start()`` brings up chain/devnet, supervisor and refresh loops."""

    refresh_s = 10.0
    funding_wait_s = 30 * 60.0
    funding_poll_s = 3.0
    online_wait_s = 300.0

    def __init__(self, paths: Paths, network: str | None = None, *, secrets_file: Path | None = None,
                 manage_worker: bool = True):
        self.paths = paths.ensure()
        self.settings = Settings(paths.settings_file)
        if network:
            self.settings.update({"network": validate_network_name(network)})
        self.secrets_file = secrets_file
        self.manage_worker = manage_worker
        self.bus = EventBus()
        self.history = History(paths.data / "history.sqlite")
        self.runner = OperationRunner(self.bus, self.history, lambda: self.network.name)
        self.api_token = ""
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once chain/devnet and the supervisor are up
        self._started = False
        self._shutdown_cb: Callable[[bool], None] | None = None
        self._status = Status(state=WorkerState.STARTING, profile=paths.profile)
        self._runtime_alerts: tuple[Alert, ...] = ()  # last alerts from the supervisor
        self._chain_alerts: tuple[Alert, ...] = ()    # last alerts from the chain refresh
        self.key_problem: AgentError | None = None    # a damaged active key (state ERROR until fixed)
        self.chain = None            # chain.client.ChainClient
        self.devnet = None           # devnet.Devnet when network is devnet
        self.consumer = None         # devnet.consumer.Consumer on devnet
        self.runtime = None          # runtime.supervisor.Supervisor
        self.ollama = None           # runtime.ollama.OllamaManager (None on devnet without Ollama)
        self.updates = None          # updates.UpdateChecker (after start())
        self.alerts = None           # alerts.AlertWatcher (after start())
        self._snapshot = None        # chain.client.ChainSnapshot of the last refresh
        self._earnings = None        # chain.ops.EarningsResult of the last earnings refresh
        self._image_checked = 0.0    # when the worker image digest was last checked
        self._worker_stores: dict = {}  # network -> JsonStore of worker.json (read once, written through)
        self._gpu: bool | None = None   # NVIDIA container runtime present (asked once per engine)
        self._hardware = None        # hardware.HardwareReport, detected on first use
        self._select_network(self.settings["network"])
        self.onboarding = Onboarding(self)

    # --- network ------------------------------------------------------------------------------------
    def _select_network(self, name: str) -> None:
        base = load_networks(self.paths.networks_override)[name]
        rpc = self.settings.rpc_for(name)
        if rpc:
            base = base.replace(rpc_url=rpc)
        self.network: Network = base
        store = open_secret_store(self.paths.keyring_service(name), self.secrets_file)
        self.custody = KeyCustody(self.paths, self.network, store, staked_checker=self._still_staked)
        self.key_problem = None
        self._merge(network=name, address=self.active_address() or "", registered=False, served_models=(),
                    stake_wei=0, wallet_wei=0, worker_balance_wei=0, releasable_wei=0, escrowed_wei=0)

    def switch_network(self, name: str) -> None:
        validate_network_name(name)
        if name == self.network.name:
            return
        log.info("switching network %s -> %s", self.network.name, name)
        self.ready.clear()
        self._stop_network_services()
        self.settings.update({"network": name})
        self._select_network(name)
        self._snapshot = None
        self._earnings = None  # belonged to the previous network's worker
        self._start_network_services()
        self.ready.set()

    # --- lifecycle ----------------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 60.0) -> None:
        """Right after launch the chain/devnet may still be starting: wait for it (no-op before start())."""
        if self._started:
            self.ready.wait(timeout)

    def start(self) -> None:
        self._started = True
        for op in self.history.mark_interrupted():
            log.warning("operation %s (%s) was interrupted by the last shutdown", op["kind"], op["id"])
        self._start_network_services()
        integration.resume_pending(self)
        from .alerts import AlertWatcher
        from .updates import UpdateChecker

        self.updates = UpdateChecker(settings=self.settings.all())

        self.alerts = AlertWatcher(self.bus, self.settings.all)
        threading.Thread(target=self.alerts.run, args=(self._stop,), name="alerts", daemon=True).start()
        self.ready.set()
        threading.Thread(target=self._refresh_loop, name="refresh", daemon=True).start()

    def _start_network_services(self) -> None:
        integration.start_network(self)

    def _stop_network_services(self) -> None:
        integration.stop_network(self)

    def stop(self, keep_worker: bool = True) -> None:
        self._stop.set()
        integration.stop_network(self, keep_worker=keep_worker)
        self.history.close()

    def on_shutdown(self, cb: Callable[[bool], None]) -> None:
        self._shutdown_cb = cb

    def request_shutdown(self, keep_worker: bool = True) -> None:
        if self._shutdown_cb:
            self._shutdown_cb(keep_worker)

    # --- status ---------------------------------------------------------------------------------------
    def status(self) -> Status:
        with self._lock:
            return self._status

    def _merge(self, **fields: Any) -> None:
        with self._lock:
            cur = self._status
            changes = {k: v for k, v in fields.items() if getattr(cur, k) != v}
            if not changes:
                return
            new = cur.evolve(**changes)
            problem = self.key_problem
            if problem is not None:
                new = new.evolve(state=WorkerState.ERROR, message=f"Worker key: {problem.message}", fix=problem.fix)
            elif not self.custody.has_key():
                new = new.evolve(state=WorkerState.SETUP_NEEDED, message="Finish setup to start earning",
                                 fix="open the onboarding window")
            self._status = new
        self.bus.publish("status", new.to_dict())

    def active_address(self) -> str | None:
        """The active key's address; a damaged key puts the agent in ERROR (it keeps running so the user can fix it)."""
        from tray_agent.common.errors import KeyCustodyError

        try:
            addr = self.custody.address()
        except KeyCustodyError as e:
            if self.key_problem is None:
                log.error("worker key problem: %s", e)
            self.key_problem = e
            return None
        self.key_problem = None
        return addr

    def on_runtime_update(self, fields: dict[str, Any]) -> None:
        """Callback of the supervisor: merge its fields (state, container, health, keep-awake…)."""
        alerts = fields.pop("alerts", None)
        if alerts is not None:
            fields["alerts"] = self._combine_alerts(runtime=tuple(alerts))
        if "extra" in fields:  # merge, do not replace: other parts keep their keys (drift, update)
            fields["extra"] = {**self.status().extra, **fields["extra"]}
        self._merge(**fields)

    def _combine_alerts(self, runtime: tuple | None = None, chain: tuple | None = None) -> tuple[Alert, ...]:
        if runtime is not None:
            self._runtime_alerts = tuple(runtime)
        if chain is not None:
            self._chain_alerts = tuple(chain)
        seen: list[Alert] = []
        for a in (*self._runtime_alerts, *self._chain_alerts):
            a = Alert(a)
            if a not in seen:
                seen.append(a)
        return tuple(seen)

    def _refresh_loop(self) -> None:
        last_sample = last_earnings = 0.0
        while not self._stop.is_set():
            try:
                integration.check_updates(self)
                integration.refresh_chain(self)
                if time.time() - last_earnings > 15:
                    integration.refresh_earnings(self)
                    last_earnings = time.time()
                if time.time() - last_sample > 60:
                    integration.record_samples(self)
                    last_sample = time.time()
                    from tray_agent.common.memory import trim

                    trim()
            except AgentError as e:
                from .chain.errors import ChainError

                log.warning("status refresh failed: %s", e)
                if isinstance(e, ChainError):
                    self._merge(alerts=self._combine_alerts(chain=(Alert.RPC_DOWN,)))
            except Exception:
                log.exception("status refresh crashed")
            self._stop.wait(self.refresh_s if not self.network.simulated else 5.0)

    # --- keys ------------------------------------------------------------------------------------
    def create_key(self, password: str | None) -> str:
        address = self.custody.generate(password)
        self._merge(address=address)
        return address

    def _still_staked(self, address: str) -> bool:
        return integration.still_staked(self, address)

    def keys_view(self) -> dict:
        active = self.active_address()
        return {"active": {"address": active, "network": self.network.name} if active else None,
                "archive": [k.to_dict() for k in self.custody.list_archive()]}

    # --- funding -----------------------------------------------------------------------------------
    def is_funded(self, refresh: bool = False) -> bool:
        if refresh:
            integration.refresh_chain(self)
        snap = self._snapshot
        if snap is None or snap.address.lower() != (self.active_address() or "").lower():
            return False
        return snap.balance_wei >= funding_threshold_wei(snap.min_stake_wei, self.network)

    def funding_view(self) -> dict:
        return integration.funding_view(self)

    # --- models -----------------------------------------------------------------------------------
    def validate_models(self, models: Any) -> list[str]:
        if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
            raise ValidationError("models must be a non-empty list of model names",
                                  fix='e.g. ["llama3-8b"]', field="models")
        if len(models) > 16:
            raise ValidationError("too many models (at most 16)", fix="serve fewer models", field="models")
        allowed = integration.allowed_models(self)
        out: list[str] = []
        for m in models:
            if m not in allowed:
                shown = m if len(m) <= 64 and m.isprintable() else repr(m[:64])
                raise ValidationError(f"model {shown} is not offered on {self.network.name}",
                                      fix=f"choose from: {', '.join(sorted(allowed))}", field="models")
            if m not in out:
                out.append(m)
        return out

    def hardware_report(self) -> dict:
        self.onboarding.mark_hardware_checked()
        return integration.hardware_report(self)

    def models_view(self) -> dict:
        return integration.models_view(self)

    def models_fit(self, models: Any) -> dict:
        return integration.models_fit(self, self.validate_models(models))

    def prepare_models(self, models: list[str], progress) -> None:
        integration.prepare_models(self, models, progress)

    def register_worker(self, models: list[str], progress) -> None:
        integration.register(self, models, progress)

    def set_served_models_local(self, models: list[str]) -> None:
        integration.set_local_models(self, models)

    def resume_worker(self) -> None:
        integration.resume_worker(self)

    def wait_online(self, progress, timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.status()
            if st.state == WorkerState.ONLINE:
                return True
            progress(f"waiting for the worker: {st.state.label}" + (f" — {st.message}" if st.message else ""), None)
            time.sleep(1.0)
        return False

    # --- views for the dashboard ---------------------------------------------------------------------
    def earnings_view(self) -> dict:
        return integration.earnings_view(self)

    def jobs_view(self) -> dict:
        return integration.jobs_view(self)

    def stuck_view(self) -> dict:
        return integration.stuck_view(self)

    def withdraw_preview(self, to: str, amount: str) -> dict:
        try:
            return {"ok": True, **integration.withdraw_preview(self, to, amount)}
        except AgentError as e:
            return {"ok": False, "error": e.to_dict()}

    def update_settings(self, changes: dict) -> dict:
        if "network" in changes:
            raise ValidationError("switch networks with the switch_network operation", fix="POST /api/ops/switch_network",
                                  field="network")
        if "rpc_override" in changes:
            integration.check_rpc_override(self, changes["rpc_override"])
        new = self.settings.update(changes)
        integration.apply_settings(self, changes)
        return new

    # --- operations ---------------------------------------------------------------------------------
    def start_operation(self, kind: str, body: dict):
        operations.check_kind(kind)
        self.wait_ready()
        fn, safe = operations.build(self, kind, body)
        return self.runner.submit(kind, fn, body, safe_params=safe, exclusive=kind not in operations.SIDE_OPS)

    def require_key(self) -> str:
        addr = self.custody.address()
        if not addr:
            raise NotFoundError(f"no worker key on {self.network.name}", fix="finish onboarding first")
        return addr
