"""The Agent facade: the API, CLI and onboarding call only this; it delegates to the network session's
services and the serial operation runner. Agent state lives in one place, the StateOwner; the Status is
derived from its facts, never written."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tray_agent.common.errors import AgentError, ValidationError
from tray_agent.common.ops import SIDE_OPS
from tray_agent.common.paths import Paths
from tray_agent.common.status import Status, WorkerState

from . import interrupted_ops, operations
from .events import EventBus
from .facts import Facts
from .history import History
from .networks import Network, load_networks, validate_network_name
from .onboarding import Onboarding
from .refresh_loop import RefreshLoop
from .runner import OperationRunner
from .services import funding
from .services.autosettle import AutoSettle
from .services.models import check_model_list
from .services.session import NetworkSession
from .services.settings_apply import apply_autostart, probe_rpc_overrides
from .services.update_watch import UpdateWatch
from .settings import Settings
from .state_owner import StateOwner

log = logging.getLogger(__name__)
STAKE_OPS = frozenset({"top_up", "reinstate", "deregister"})  # preflight BLOCKs stop these


class Agent:
    """One agent per profile. ``start()`` brings up the network session and the refresh loop."""

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
        self.owner = StateOwner(self.bus, Facts(profile=paths.profile, network=self.settings["network"],
                                                runtime={"state": WorkerState.STARTING}))
        self.runner = OperationRunner(self.bus, self.history, lambda: self.network.name,
                                      on_change=lambda kind: self.owner.report(wait=True, operation=kind))
        self.api_token = ""
        self._stop = threading.Event()
        self.ready = threading.Event()  # set once chain/devnet and the supervisor are up
        self._started = False
        self._shutdown_cb: Callable[[bool], None] | None = None
        self.alerts = None           # alerts.AlertWatcher (after start())
        self.update_watch = UpdateWatch(self.owner, self.bus)
        self.session = self._new_session(self.settings["network"])
        self.onboarding = Onboarding(self)
        self.autosettle = AutoSettle(self.runner, self.owner, self.history, lambda: self.session,
                                     lambda *n: self.alerts.emit(*n) if self.alerts else None)

    # --- the network session ------------------------------------------------------------------------------
    def _new_session(self, name: str) -> NetworkSession:
        base = load_networks(self.paths.networks_override)[name]
        rpc = self.settings.rpc_for(name)
        if rpc:
            base = base.replace(rpc_url=rpc)
        session = NetworkSession(self.paths, base, self.settings, self.owner, self.history,
                                 secrets_file=self.secrets_file, manage_worker=self.manage_worker, stop=self._stop,
                                 chosen_models=lambda: self.onboarding.chosen_models(), wait_ready=self.wait_ready,
                                 on_left=lambda: self.onboarding.forget_done())
        self.owner.report(wait=True, network=name, chain=None, runtime={"state": WorkerState.STARTING},
                          escrowed_wei=0, releasable_wei=0, slashed_wei=0, stuck_jobs=0, drift=(), rpc_down=False,
                          key_error=None, secret_error=None, address="", last_job_at=0.0, deregister_at=0.0)
        session.active_address()
        return session

    @property
    def network(self) -> Network:
        return self.session.network

    @property
    def custody(self):
        return self.session.custody

    @property
    def chain(self):
        return self.session.chain

    @property
    def devnet(self):
        return self.session.devnet

    @property
    def runtime(self):
        return self.session.worker.runtime

    @property
    def ollama(self):
        return self.session.worker.ollama

    def switch_network(self, name: str, progress=lambda m, f=None: None) -> None:
        """Only from the operation runner (the switch_network operation): drain and stop the old session's
        worker, then start the new network's."""
        validate_network_name(name)
        if name == self.network.name:
            return
        log.info("switching network %s -> %s", self.network.name, name)
        progress(f"stopping the {self.network.name} worker once its running jobs finish", None)
        was_paused = self.session.worker.retire(progress)  # a cancelled wait changes nothing: the old worker runs
        self.ready.clear()
        self.session.stop(keep_worker=False, remove=True)
        self.settings.update({"network": name})
        self.session = self._new_session(name)
        progress(f"starting {name}", None)
        self.session.start()
        if not was_paused and self.session.worker.runtime is not None:
            self.session.worker.runtime.resume()  # the switch's stop is no user pause: the new network's worker runs
        self.ready.set()

    # --- lifecycle ----------------------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 60.0) -> None:
        """Right after launch the chain/devnet may still be starting: wait for it (no-op before start())."""
        if self._started:
            self.ready.wait(timeout)

    def start(self) -> None:
        from .alerts import AlertWatcher
        from .updates import UpdateChecker

        self._started = True
        interrupted = self.history.mark_interrupted()
        for op in interrupted:
            log.warning("operation %s (%s) was interrupted by the last shutdown", op["kind"], op["id"])
        self.session.start()
        for op in interrupted:
            if op.get("network") == self.network.name:
                interrupted_ops.reconcile(op, self.history, self.session.chain, self.custody.address())
        self.update_watch.checker = UpdateChecker(settings=self.settings.all())
        self.alerts = AlertWatcher(self.bus, self.settings.all)
        threading.Thread(target=self.alerts.run, args=(self._stop,), name="alerts", daemon=True).start()
        self.ready.set()
        RefreshLoop(session=lambda: self.session, owner=self.owner, runner=self.runner, autosettle=self.autosettle,
                    check_updates=self.check_updates, busy=lambda: bool(self.status().operation),
                    preflight=self.require_preflight, stop=self._stop,
                    interval=lambda: 5.0 if self.network.simulated else self.refresh_s).start()

    def stop(self, keep_worker: bool = True) -> None:
        self._stop.set()
        self.session.stop(keep_worker=keep_worker)
        self.owner.close()
        self.history.close()

    def on_shutdown(self, cb: Callable[[bool], None]) -> None:
        self._shutdown_cb = cb

    def request_shutdown(self, keep_worker: bool = True) -> None:
        if self._shutdown_cb:
            self._shutdown_cb(keep_worker)

    def _preflight_step(self, progress, kind: str) -> None:
        progress("preflight: checking the chain, the key and the keystore before changing the stake", None)
        self.require_preflight(kind)

    def check_updates(self) -> None:
        self.update_watch.check(self.runtime, self.network.simulated)

    # --- status and keys ----------------------------------------------------------------------------------
    def status(self) -> Status:
        return self.owner.status()

    def active_address(self) -> str | None:
        return self.session.active_address()

    def require_key(self) -> str:
        return self.custody.require_address()

    def create_key(self, password: str | None) -> str:
        address = self.custody.generate(password)
        self.owner.report(wait=True, address=address)
        return address

    def keys_view(self) -> dict:
        active = self.active_address()
        return {"active": {"address": active, "network": self.network.name} if active else None,
                "archive": [k.to_dict() for k in self.custody.list_archive()]}

    def export_keys(self, dest: str, include_password: bool = False) -> dict:
        """A toolkit-compatible backup (keystore, encryption key, env file; 0600) to run this worker with the
        official CLI; the password goes into the env file only when asked."""
        from .keys.toolkit_io import export_backup

        files = export_backup(self.custody, dest, self.session.worker.local_models(),
                              include_password=include_password)
        return {"files": [str(f) for f in files], "password_included": include_password}

    # --- funding --------------------------------------------------------------------------------------------
    def is_funded(self, refresh: bool = False) -> bool:
        if refresh and self.session.sync is not None:
            self.session.sync.refresh()
        snap = self.session.sync.snapshot if self.session.sync else None
        return funding.is_funded(self.network, self.active_address() or "", snap)

    def funding_view(self) -> dict:
        snap = self.session.sync.snapshot if self.session.sync else None
        wallet = self.devnet.user_wallet[0] if self.devnet is not None else None
        view = funding.funding_view(self.network, self.active_address() or "", snap, wallet)
        if self.chain is not None:  # the browser-wallet send uses explicit fees and 21000 gas, like our own sends
            try:
                from .chain.tx import fee_fields

                view["tx_fees"] = {k: hex(v) for k, v in fee_fields(self.chain).items()}
            except AgentError as e:
                log.info("fee fields not readable: %s", e)
        return view

    # --- models ---------------------------------------------------------------------------------------------
    def _models(self):
        self.wait_ready()
        if self.session.models is None:
            raise AgentError("the agent is still starting", fix="try again in a few seconds", code="starting")
        return self.session.models

    def validate_models(self, models: Any) -> list[str]:
        check_model_list(models)
        return self._models().validate(models)

    def hardware_report(self) -> dict:
        self.onboarding.mark_hardware_checked()
        return self._models().hardware_view(self.paths.profile)

    def models_view(self) -> dict:
        return self._models().view(set(self.status().served_models))

    def models_fit(self, models: Any) -> dict:
        names = self.validate_models(models)
        return self._models().fit(names)

    def demand_view(self, window_h: Any = None) -> dict:
        from .services.demand import parse_window_h

        self._models()
        return self.session.demand.view(parse_window_h(window_h))  # type: ignore[union-attr]

    def suggest_models(self, window_h: Any = None) -> dict:
        from .services.demand import parse_window_h

        self._models()
        cur = list(self.status().served_models) or self.session.worker.local_models() or self.onboarding.chosen_models()
        return self.session.demand.suggestion(cur, parse_window_h(window_h))  # type: ignore[union-attr]

    def prepare_models(self, models: list[str], progress) -> None:
        self._models().prepare(models, progress)

    def register_worker(self, models: list[str], progress) -> None:
        self.require_preflight("register", models)
        self.session.money.register(models, progress)

    def preflight(self, models: list[str] | None = None) -> dict:
        from .preflight_agent import agent_preflight

        return agent_preflight(self, models or self.session.worker.local_models() or self.onboarding.chosen_models())

    def require_preflight(self, step: str, models: list[str] | None = None) -> None:
        """No stake-changing step runs while a BLOCK check fails (RPC, password, key/address, ECDH key)."""
        from .preflight import require_no_block

        require_no_block(self.preflight(models), step)

    def set_served_models_local(self, models: list[str]) -> None:
        self.session.worker.set_local_models(models)

    def resume_worker(self) -> None:
        if self.runtime is not None:
            self.runtime.resume()

    def wait_online(self, progress, timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            st = self.status()
            if st.state == WorkerState.ONLINE:
                return True
            progress(f"waiting for the worker: {st.state.label}" + (f" — {st.message}" if st.message else ""), None)
            time.sleep(1.0)
        return False

    # --- views for the dashboard ----------------------------------------------------------------------------
    def _sync(self):
        self.wait_ready()
        if self.session.sync is None:
            raise AgentError("the agent is still starting", fix="try again in a few seconds", code="starting")
        return self.session.sync

    def earnings_view(self) -> dict:
        return self._sync().earnings_view()

    def jobs_view(self) -> dict:
        return self._sync().jobs_view()

    def stuck_view(self) -> dict:
        return self._sync().stuck_view()

    def history_csv(self) -> str:
        jobs: list[dict] = []
        try:
            jobs = self._sync().jobs_view()["jobs"]
        except AgentError as e:  # chain unreachable: the local history still exports
            log.info("history export without jobs: %s", e)
        return self.history.csv_export(self.network.name, jobs)

    def withdraw_preview(self, to: str, amount: str) -> dict:
        try:
            return {"ok": True, **self.session.money.withdraw_preview(to, amount)}
        except AgentError as e:
            return {"ok": False, "error": e.to_dict()}

    def update_settings(self, changes: dict) -> dict:
        if "network" in changes:
            raise ValidationError("switch networks with the switch_network operation",
                                  fix="POST /api/ops/switch_network", field="network")
        valid = self.settings.validate(changes)  # the one schema check; nothing is written unless all pass
        if valid.get("gpus"):
            self._models().check_gpu_ids(valid["gpus"], self.paths.profile)
        if "rpc_override" in valid:
            probe_rpc_overrides({k: v for k, v in valid["rpc_override"].items() if k in changes["rpc_override"]},
                                load_networks(self.paths.networks_override), self.network)
        new = self.settings.write(valid)
        self._apply_settings(valid)
        return new

    def _apply_settings(self, changes: dict) -> None:
        if ("manual_vram_bytes" in changes or "gpus" in changes) and self.session.models is not None:
            self.session.models.forget_hardware()  # the fit and the hardware verdict use the number entered
        if "release_feed" in changes:
            from .updates import UpdateChecker

            self.update_watch.checker = UpdateChecker(settings=self.settings.all())
            threading.Thread(target=self.check_updates, daemon=True, name="update-check").start()
        if "autostart" in changes:
            apply_autostart(bool(changes["autostart"]), self.paths.profile, self.settings.gpu_ids())
        if "ollama_url" in changes or "gpus" in changes:  # a GPU group gets its own Ollama; the container follows
            self.session.worker.use_ollama_url()
        if "keep_awake" in changes and self.runtime is not None:
            ka = self.runtime.keep_awake
            ka.enabled = bool(changes["keep_awake"])
            if not ka.enabled:
                ka.release()
            self.runtime.wake()

    # --- operations -------------------------------------------------------------------------------------------
    def start_operation(self, kind: str, body: dict):
        operations.check_kind(kind)
        self.wait_ready()
        if self.session.exit is not None:
            self.session.exit.refuse_conflicting(kind)
        cur = self.runner.current
        if kind == "cancel_deregister" and self.runner.busy and cur is not None and cur.kind == "deregister":
            self.runner.cancel(cur.op_id)  # honoured before the deregister transaction is sent; the op says which
            return cur
        fn, safe = operations.build(self, kind, body)
        if kind in STAKE_OPS:
            work = fn

            def fn(progress, kind=kind):
                self._preflight_step(progress, kind)
                return work(progress)
        return self.runner.submit(kind, fn, body, safe_params=safe, exclusive=kind not in SIDE_OPS)
