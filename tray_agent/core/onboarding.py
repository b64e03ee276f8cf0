"""Onboarding as a persisted, resumable state machine.

Steps: network → hardware → models → password → key → funding → models_ready → registered → container → online.
Each step is derived from facts first (key on disk, balance and registration on chain, container state) and from
the persisted choices second, so a kill -9 anywhere resumes at the right place, never makes a second key while one
awaits funding and never stakes twice (registration is re-checked on chain before any stake is sent).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from tray_agent.common.errors import AgentError, ValidationError

from .networks import validate_network_name
from .store import JsonStore

if TYPE_CHECKING:
    from .agent import Agent

log = logging.getLogger(__name__)

STEPS = ("network", "hardware", "models", "password", "key", "funding", "models_ready", "registered",
         "container", "online")
def mainnet_warning(min_stake_wei: int, read_on_chain: bool) -> str:
    """The mainnet stake in words: the on-chain minimum when this agent runs on mainnet, else the shipped figure."""
    from tray_agent.common.amounts import format_lcai

    source = "read on-chain" if read_on_chain else "the last known minimum; read on-chain when you switch"
    return (f"Mainnet needs a real-money stake of {format_lcai(min_stake_wei)} LCAI ({source}) plus gas. "
            "Start on testnet unless you know you want mainnet.")


class Onboarding:
    def __init__(self, agent: Agent):
        self.agent = agent
        self.store = JsonStore(agent.paths.data / "onboarding.json",
                               {"network_confirmed": False, "hardware_checked": False, "models": {}, "done": {}})

    # --- facts ------------------------------------------------------------------------------------
    @property
    def net(self) -> str:
        return self.agent.network.name

    @property
    def done(self) -> bool:
        """Derived from facts, like every other surface: a key, a served model set, and registration on chain
        (or the recorded finish of this network's onboarding while the chain is not read yet)."""
        a = self.agent
        if not a.custody.has_key() or not a.session.worker.local_models():
            return False
        return a.status().registered or bool(self.store.get("done", {}).get(self.net))

    def forget_done(self) -> None:
        """After Deregister: this network's onboarding starts again from the models step."""
        done = self.store.get("done", {})
        done.pop(self.net, None)
        self.store.update(done=done)

    def chosen_models(self) -> list[str]:
        return list(self.store.get("models", {}).get(self.net, []))

    def current_step(self) -> str:
        a = self.agent
        if self.done:
            return "online"
        if not self.store.get("network_confirmed"):
            return "network"
        if not self.store.get("hardware_checked"):
            return "hardware"
        if not self.chosen_models():
            return "models"
        if not a.custody.has_key():
            return "password"
        st = a.status()
        if not st.registered and not a.is_funded():
            return "funding"
        if not self.store.get("models_ready", {}).get(self.net):
            return "models_ready"
        if not st.registered:
            return "registered"
        if not st.container_running:
            return "container"
        return "online"

    def view(self) -> dict[str, Any]:
        a = self.agent
        step = self.current_step()
        st = a.status()
        out: dict[str, Any] = {
            "step": step, "steps": list(STEPS), "done": self.done, "network": self.net,
            "network_confirmed": bool(self.store.get("network_confirmed")),
            "networks": {"testnet": "", "mainnet": self._mainnet_warning(),
                         "devnet": "local chain for demos, no real money"},
            "models": self.chosen_models(), "address": st.address or None,
        }
        if a.custody.has_key():
            out["funding"] = a.funding_view()
        op = a.runner.current
        if op and op.kind == "onboarding" and op.state in ("queued", "running"):
            out["op_id"] = op.op_id
        return out

    def _mainnet_warning(self) -> str:
        a = self.agent
        chain = a.owner.facts.chain
        if self.net == "mainnet" and chain is not None and chain.min_stake_wei:
            return mainnet_warning(chain.min_stake_wei, True)
        from .networks import load_networks

        return mainnet_warning(load_networks(a.paths.networks_override)["mainnet"].min_stake_fallback_wei, False)

    # --- user choices -----------------------------------------------------------------------------
    def set_network(self, network: Any) -> dict:
        if not isinstance(network, str):
            raise ValidationError("network must be a string", fix="choose testnet, mainnet or devnet", field="network")
        validate_network_name(network)
        if network != self.net:  # through the serial runner, like every state change
            op = self.agent.start_operation("switch_network", {"network": network})
            op.done.wait()
            if op.error:
                raise AgentError(op.error.get("message", "switching networks failed"), fix=op.error.get("fix", ""),
                                 code=op.error.get("code", "switch_failed"))
        self.store.update(network_confirmed=True)
        return self.view()

    def mark_hardware_checked(self) -> None:
        self.store.update(hardware_checked=True)

    def set_models(self, models: Any) -> dict:
        names = self.agent.validate_models(models)
        all_models = self.store.get("models", {})
        all_models[self.net] = names
        self.store.update(models=all_models, hardware_checked=True)
        return self.view()

    def set_password(self, password: str | None) -> dict:
        """Create the worker key now, protected by ``password`` (or a generated one). Idempotent."""
        from .keys.secrets import check_password

        if not self.chosen_models():
            raise ValidationError("choose the models to serve first", fix="pick at least one model", field="models")
        hints = check_password(password) if password is not None else []
        if self.agent.custody.has_key():
            return {"hints": [], "address": self.agent.custody.address(), "created": False}
        address = self.agent.create_key(password)
        return {"hints": hints, "address": address, "created": True}

    def _autostart_on(self, progress) -> None:
        """Without start at login a desktop has no watchdog, keep-awake or alerts after a reboot: turn it on at
        the end of onboarding, visibly (Settings → Start at login turns it off)."""
        a = self.agent
        if a.settings["autostart"]:
            return
        try:
            a.update_settings({"autostart": True})
            progress("start at login is on, so the worker comes back after a reboot (turn it off in Settings)", None)
        except Exception as e:  # no autostart mechanism here: say so, the worker runs anyway
            log.warning("could not turn on start at login: %s", e)
            progress(f"start at login could not be turned on ({e}); start the app after a reboot", None)

    # --- the automatic part -----------------------------------------------------------------------
    def continue_(self):
        """Run the remaining automatic steps as one operation (funding wait, pull, register, start, verify)."""
        self.agent.wait_ready()
        if self.agent.session.exit is not None:
            self.agent.session.exit.refuse_conflicting("onboarding")
        return self.agent.runner.submit("onboarding", self._run, {"network": self.net})

    def _run(self, progress) -> dict:
        a = self.agent
        step = self.current_step()
        if step in ("network", "hardware", "models", "password"):
            raise AgentError(f"onboarding needs your input first (step: {step})",
                             fix="finish the step on the onboarding page", code="needs_input")
        models = self.chosen_models()
        # funding
        if not a.status().registered:
            deadline = time.time() + a.funding_wait_s
            while not a.is_funded(refresh=True):
                f = a.funding_view()
                progress(f"waiting for funds: {f['balance_lcai']} of {f['threshold_lcai']} LCAI at {f['address']}",
                         min(1.0, int(f["balance_wei"]) / max(1, int(f["threshold_wei"]))))
                if time.time() > deadline:
                    raise AgentError("the worker wallet is not funded yet",
                                     fix=f"send {f['threshold_lcai']} LCAI to {f['address']}, then press Continue again",
                                     code="not_funded")
                time.sleep(a.funding_poll_s)
            progress("funds arrived", 1.0)
        # install order: Docker, the worker image and the models are in place before any stake is sent
        a.session.worker.ensure_runnable(progress)
        a.prepare_models(models, progress)
        ready = self.store.get("models_ready", {})
        ready[self.net] = True
        self.store.update(models_ready=ready)
        # register (idempotent on chain) + served models
        a.register_worker(models, progress)
        # container
        progress("starting the worker container", None)
        a.set_served_models_local(models)
        a.resume_worker()
        online = a.wait_online(progress, timeout=a.online_wait_s)
        if online:
            done = self.store.get("done", {})
            done[self.net] = True
            self.store.update(done=done)
            self._autostart_on(progress)
            progress("worker is online", 1.0)
        else:
            raise AgentError("the worker started but is not online yet",
                             fix="the dashboard shows why; the watchdog keeps trying", code="not_online")
        return {"address": a.custody.address(), "models": models, "online": online}
