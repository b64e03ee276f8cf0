"""Glue between the Agent and the domain packages (chain/, runtime/, devnet, hardware, catalog, speed test).

Kept apart from agent.py so the facade stays readable: every function takes the agent and does one thing.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tray_agent.common.errors import AgentError, ValidationError
from tray_agent.common.status import Alert, WorkerState

from .networks import funding_threshold_wei
from .store import JsonStore

if TYPE_CHECKING:
    from .agent import Agent

log = logging.getLogger(__name__)
CONSUMER_RATE_PER_MIN = 6.0


# --- per-network local worker config --------------------------------------------------------------------
def worker_store(agent: Agent) -> JsonStore:
    """worker.json of the current network, read once and kept (only this single-instance agent writes it)."""
    name = agent.network.name
    store = agent._worker_stores.get(name)
    if store is None:
        store = agent._worker_stores[name] = JsonStore(agent.paths.network_dir(name) / "worker.json",
                                                       {"models": [], "metrics_port": 0})
    return store


def local_models(agent: Agent) -> list[str]:
    return list(worker_store(agent).get("models") or [])


def set_local_models(agent: Agent, models: list[str]) -> None:
    """The SUPPORTED_MODELS of the container (changes recreate it through the supervisor's config hash)."""
    worker_store(agent).update(models=list(models))
    if agent.runtime:
        agent.runtime.wake()


def metrics_port(agent: Agent) -> int:
    """A loopback port for the worker's metrics, fixed per profile and network (host networking)."""
    store = worker_store(agent)
    port = int(store.get("metrics_port") or 0)
    if not port:
        from .devnet import free_port

        port = 9101 if agent.paths.profile == "default" and not agent.network.simulated else free_port()
        store.update(metrics_port=port)
    return port


def cache_path(agent: Agent) -> Path:
    return agent.paths.network_dir(agent.network.name) / "jobs-cache.json"


# --- network services -----------------------------------------------------------------------------------
def start_network(agent: Agent) -> None:
    from .chain.client import ChainClient

    net = agent.network
    if net.is_devnet:
        from .devnet import start_devnet

        agent.devnet = start_devnet(agent.paths.network_dir("devnet") / "chain")
        agent.network = agent.devnet.network(net)
        agent.custody.network = agent.network
        log.info("devnet chain at %s (chain id %s)", agent.devnet.rpc_url, agent.devnet.chain_id)
    agent.chain = ChainClient(agent.network)
    threading.Thread(target=_self_check, args=(agent,), name="selfcheck", daemon=True).start()
    if agent.manage_worker:
        _start_supervisor(agent)
    if agent.devnet is not None:
        _start_consumer(agent)


def stop_network(agent: Agent, keep_worker: bool = True) -> None:
    if agent.consumer is not None:
        agent.consumer.stop()
        agent.consumer = None
    if agent.runtime is not None:
        sup = agent.runtime
        agent.runtime = None
        if not keep_worker:
            try:
                sup.pause("agent stopped with the worker")
            except Exception as e:  # Docker gone: nothing to stop
                log.warning("could not stop the worker: %s", e)
        sup.stop()
    if agent.devnet is not None:
        agent.devnet.stop()
        agent.devnet = None


def _self_check(agent: Agent) -> None:
    from .chain.ops import protocol_self_check

    try:
        res = protocol_self_check(agent.chain)
    except AgentError as e:
        log.warning("protocol self-check failed: %s", e)
        return
    if res.drift:
        for d in res.drift:
            log.warning("protocol drift on %s: %s expected %s, chain says %s", agent.network.name, d.get("field"),
                        d.get("expected"), d.get("actual"))
        agent._merge(alerts=agent._combine_alerts(chain=(*agent._chain_alerts, Alert.PROTOCOL_DRIFT)),
                     extra={**agent.status().extra, "drift": res.drift})


def _ollama_manager(agent: Agent):
    url = agent.settings["ollama_url"]
    if agent.network.simulated and not url:
        return None  # devnet: the simulated worker answers without Ollama unless one is configured
    from .runtime.ollama import OllamaManager

    return OllamaManager(url or "http://127.0.0.1:11434",
                         docker_client=lambda: agent.runtime._get_client(quiet=True) if agent.runtime else None)


def _start_supervisor(agent: Agent) -> None:
    from .runtime.supervisor import Supervisor, SupervisorConfig

    cfg = SupervisorConfig(interval=10.0)  # Docker events wake it at once on a crash; the tick is a safety net
    agent.ollama = _ollama_manager(agent)
    agent.runtime = Supervisor(agent.paths, lambda: worker_spec(agent), agent.on_runtime_update,
                               config=cfg, ollama=agent.ollama)
    agent.runtime.start()


def worker_spec(agent: Agent):
    """The wanted container, or None while setup is not finished (→ SETUP_NEEDED)."""
    from .runtime.worker_container import WorkerSpec

    models = local_models(agent)
    if not models or not agent.active_address():
        return None
    try:
        password = agent.custody.password()
    except AgentError as e:
        agent._merge(state=WorkerState.ERROR, message=e.message, fix=e.fix)
        return None
    ollama_url = agent.settings["ollama_url"] or None
    extra_env: dict[str, str] = {}
    if agent.network.simulated:
        extra_env = {"SIM_RELEASE": "false", "LCAI_DEVNET": "1"}
    return WorkerSpec.build(agent.paths, agent.network, models, password, metrics_port=metrics_port(agent),
                            ollama_url=ollama_url, extra_env=extra_env, gpu=_gpu(agent))


def _gpu(agent: Agent) -> bool:
    """NVIDIA container runtime present? Asked once (docker info), not on every supervisor tick."""
    if agent.network.simulated or agent.runtime is None:
        return False
    if agent._gpu is None:
        from .runtime.worker_container import nvidia_runtime

        client = agent.runtime._get_client(quiet=True)
        agent._gpu = nvidia_runtime(client) if client is not None else None  # None: ask again next time
    return bool(agent._gpu)


class ConsumerProcess:
    """The simulated devnet consumer as its own process (another actor on the chain, not agent work)."""

    def __init__(self, rpc_url: str, chain_id: int, rate_per_min: float, log_file: Path):
        import subprocess
        import sys

        with open(log_file, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tray_agent.devnet.consumer", "--rpc", rpc_url, "--chain-id", str(chain_id),
                 "--rate", str(rate_per_min)], stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    def stop(self) -> None:
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _start_consumer(agent: Agent) -> None:
    import sys

    dn = agent.devnet
    try:
        if getattr(sys, "frozen", False):  # a bundled app cannot run "-m": keep the consumer in-process
            from ..devnet.consumer import Consumer

            agent.consumer = Consumer(dn.rpc_url, dn.chain_id).start(CONSUMER_RATE_PER_MIN)
        else:
            agent.consumer = ConsumerProcess(dn.rpc_url, dn.chain_id, CONSUMER_RATE_PER_MIN,
                                             agent.paths.logs / "devnet-consumer.log")
    except Exception as e:
        log.warning("devnet consumer did not start: %s", e)


# --- chain refresh ----------------------------------------------------------------------------------------
ZERO = "0x0000000000000000000000000000000000000000"


def refresh_chain(agent: Agent) -> None:
    """One batched read of everything the dashboard shows (before a key exists: fees and min stake only)."""
    if agent.chain is None:
        return
    addr = agent.active_address()
    snap = agent.chain.snapshot(addr or ZERO, models=_model_names(agent))
    agent._snapshot = snap
    if not addr:
        return
    stuck = agent.status().stuck_jobs
    alerts: list[Alert] = []
    if snap.registered and snap.balance_wei < agent.network.low_gas_wei:
        alerts.append(Alert.LOW_GAS)
    if snap.suspended:
        alerts.append(Alert.SUSPENDED)
    if snap.worker_balance_wei > 0:
        alerts.append(Alert.EARNINGS_READY)
    if stuck:
        alerts.append(Alert.STUCK_JOBS)
    if Alert.PROTOCOL_DRIFT in agent._chain_alerts:
        alerts.append(Alert.PROTOCOL_DRIFT)
    fields: dict[str, Any] = dict(
        address=addr, registered=snap.registered, stake_wei=snap.stake_wei, wallet_wei=snap.balance_wei,
        worker_balance_wei=snap.worker_balance_wei, served_models=tuple(snap.served_models),
        alerts=agent._combine_alerts(chain=tuple(alerts)),
    )
    if agent.runtime is None or agent.status().active_jobs == 0:
        fields["active_jobs"] = snap.active_jobs
    agent._merge(**fields)


def _model_names(agent: Agent) -> list[str]:
    from .catalog import catalog_for

    names = [e.name for e in catalog_for(agent.network)]
    if agent.devnet is not None:
        names = list(dict.fromkeys([*agent.devnet.models, *names]))
    return names


def refresh_earnings(agent: Agent):
    """Escrowed / releasable split from the cached JobCompleted scan (cheap after the first scan)."""
    from .chain.ops import earnings

    st = agent.status()
    if not st.address or agent.chain is None:
        return None
    try:
        e = earnings(agent.chain, st.address, cache_path=cache_path(agent))
    except AgentError as ex:
        log.info("earnings refresh skipped: %s", ex)
        return None
    agent._earnings = e
    agent._merge(escrowed_wei=e.escrowed_wei, releasable_wei=e.releasable_wei)
    return e


def record_samples(agent: Agent) -> None:
    """Once a minute: earnings split and uptime for the dashboard chart (history)."""
    st = agent.status()
    agent.history.uptime_sample(agent.network.name, st.state.value)
    e = agent._earnings
    if not st.address or e is None:
        return
    agent.history.earnings_sample(agent.network.name, st.address, stake_wei=st.stake_wei, escrowed_wei=e.escrowed_wei,
                                  releasable_wei=e.releasable_wei, worker_balance_wei=e.worker_balance_wei,
                                  wallet_wei=st.wallet_wei, withdrawn_wei=e.withdrawn_wei)


IMAGE_CHECK_S = 24 * 3600


def check_updates(agent: Agent) -> None:
    """Once a day: a newer app release (release feed) and a newer worker image digest (registry).
    Both become notices for the tray and the dashboard; nothing is installed or pulled by itself."""
    if agent.runtime is not None and not agent.network.simulated:
        if time.time() - agent._image_checked > IMAGE_CHECK_S:
            agent._image_checked = time.time()
            threading.Thread(target=_check_image, args=(agent,), name="image-check", daemon=True).start()
    up = agent.updates
    if up is None or not up.enabled or not up.due():
        return
    notice = up.check()
    if notice is not None:
        agent._merge(extra={**agent.status().extra, "update": notice.to_dict()})
        agent.bus.publish("notify", {"kind": "update_available", "title": "Update available",
                                     "message": notice.message, "level": "info"})


def _check_image(agent: Agent) -> None:
    try:
        newer = agent.runtime.check_image_update() if agent.runtime else None
    except Exception as e:  # registry unreachable: try again tomorrow
        log.info("worker image check failed: %s", e)
        return
    if newer:
        agent.bus.publish("notify", {"kind": "image_update", "title": "Worker update available",
                                     "message": "A newer worker image is published. Update it from the dashboard.",
                                     "level": "info"})


def op_update_image(agent: Agent, progress):
    """Pull the newer worker image; the supervisor recreates the worker on it (after the drain grace)."""
    sup = _supervisor(agent)

    def on_progress(p):
        progress(f"pulling the worker image: {p.done_bytes >> 20} of {p.total_bytes >> 20} MiB", p.fraction)

    info = sup.update_image(on_progress)
    return {"image": getattr(info, "ref", ""), "digest": getattr(info, "digest", "")}


def still_staked(agent: Agent, address: str) -> bool:
    if agent.chain is None:
        raise AgentError("chain not connected")
    return agent.chain.is_still_staked(address)


# --- funding ------------------------------------------------------------------------------------------------
def funding_view(agent: Agent) -> dict:
    from tray_agent.common.amounts import format_lcai

    addr = agent.active_address() or ""
    snap = agent._snapshot
    min_stake = snap.min_stake_wei if snap else agent.network.min_stake_fallback_wei
    mine = bool(snap and addr and snap.address.lower() == addr.lower())
    balance = snap.balance_wei if mine else 0
    threshold = funding_threshold_wei(min_stake, agent.network)
    missing = max(0, threshold - balance)
    chain_id = agent.network.chain_id
    eip681 = f"ethereum:{addr}@{chain_id}?value={missing or threshold}"
    out = {
        "address": addr, "threshold_wei": str(threshold), "balance_wei": str(balance), "missing_wei": str(missing),
        "min_stake_wei": str(min_stake), "threshold_lcai": format_lcai(threshold), "balance_lcai": format_lcai(balance),
        "missing_lcai": format_lcai(missing), "funded": balance >= threshold or bool(mine and snap.registered),
        "eip681": eip681, "qr_svg": _qr_svg(eip681), "faucet_url": agent.network.faucet_url,
        "chain": {"chain_id": chain_id, "chain_id_hex": hex(chain_id), "rpc_url": agent.network.rpc_url,
                  "name": agent.network.label, "symbol": "LCAI", "explorer_url": agent.network.explorer_url},
    }
    if agent.devnet is not None:
        out["devnet_wallet"] = agent.devnet.user_wallet[0]
    return out


def _qr_svg(data: str) -> str:
    import io

    import segno

    buf = io.BytesIO()
    segno.make(data, error="m").save(buf, kind="svg", scale=4, border=2, xmldecl=False, svgns=True,
                                     title="Funding QR code")
    return buf.getvalue().decode()


# --- hardware, catalog, fit ----------------------------------------------------------------------------------
def _hardware(agent: Agent):
    """Hardware report, detected once per agent (and again after the user enters the GPU memory)."""
    from .hardware import detect, runtimes_from_docker_info

    if agent._hardware is None:
        def runtimes():
            client = agent.runtime._get_client(quiet=True) if agent.runtime else None
            return runtimes_from_docker_info(client.info()) if client else []

        agent._hardware = detect(docker_runtimes=runtimes, manual_vram_bytes=agent.settings["manual_vram_bytes"])
    return agent._hardware


def hardware_report(agent: Agent) -> dict:
    return _hardware(agent).to_dict()


def _fees(agent: Agent) -> dict[str, int] | None:
    snap = agent._snapshot
    if snap is None or not snap.models:
        return None
    return {m.name: m.fee_wei for m in snap.models if m.fee_wei}


def ensure_snapshot(agent: Agent, timeout: float = 30.0):
    """The latest chain snapshot, reading one now when none exists yet (right after start-up)."""
    if agent._snapshot is None:
        agent.wait_ready(timeout)
        try:
            refresh_chain(agent)
        except AgentError as e:
            log.info("chain not readable yet: %s", e)
    return agent._snapshot


def allowed_models(agent: Agent) -> set[str]:
    snap = ensure_snapshot(agent)
    if snap is not None and snap.models:
        return {m.name for m in snap.models if m.whitelisted and m.enabled}
    if agent.devnet is not None:
        return set(agent.devnet.models)
    from .catalog import catalog_for

    return {e.name for e in catalog_for(agent.network)}


def models_view(agent: Agent) -> dict:
    from .catalog import catalog_for, entry_for, footprint
    from .fit import memory_budget

    report = _hardware(agent)
    kind, capacity = memory_budget(report)
    allowed = allowed_models(agent)
    served = set(agent.status().served_models) | set(local_models(agent))
    pulled = _pulled(agent)
    rows = []
    entries = {e.name: e for e in catalog_for(agent.network, fees_wei=_fees(agent))}
    for name in sorted(allowed - set(entries)):
        entries[name] = entry_for(name, agent.network, fees_wei=_fees(agent))
    for e in entries.values():
        if e.name not in allowed:
            continue
        fp = footprint(e)
        rows.append({**e.to_dict(), "fee_wei": str(e.fee_wei) if e.fee_wei is not None else None,
                     "footprint_bytes": fp.total_bytes, "served": e.name in served,
                     "pulled": e.name in pulled if pulled is not None else None})
    return {"catalog": rows, "memory_kind": kind, "capacity_bytes": capacity, "served": sorted(served),
            "chosen": agent.onboarding.chosen_models()}


def _pulled(agent: Agent) -> set[str] | None:
    if agent.ollama is None:
        return None
    try:
        return agent.ollama.tags()
    except Exception:
        return None


def models_fit(agent: Agent, models: list[str]) -> dict:
    from .fit import fit_models

    res = fit_models(models, agent.network, _hardware(agent), fees_wei=_fees(agent))
    if res is None:
        return {"verdict": "unknown", "reasons": ["the GPU's memory is unknown: enter it in Settings"],
                "total_bytes": None, "capacity_bytes": None}
    return res.to_dict()


# --- models in Ollama ---------------------------------------------------------------------------------------
def prepare_models(agent: Agent, models: list[str], progress) -> None:
    """Pull and verify every model under its exact name before it is registered or advertised."""
    if agent.ollama is None:
        progress("devnet: the simulated worker serves these models without Ollama", None)
        return
    ol = agent.ollama
    if not ol.ensure_running():
        raise AgentError("Ollama is not running and could not be started",
                         fix="install Ollama (ollama.com) or make sure Docker can run the ollama/ollama image",
                         code="ollama_down")
    for i, m in enumerate(models):
        def on_progress(p, m=m, i=i):
            progress(f"pulling {m}: {p.status}", (i + p.fraction) / len(models))

        ol.ensure_models([m], on_progress)
    ol.verify_present(models)
    progress("models present in Ollama", 1.0)


# --- chain operations ------------------------------------------------------------------------------------------
def _ctx(agent: Agent, *, use_gate: bool = True):
    from .chain.ops import OpContext
    from .chain.writer import WriterGate

    key = agent.custody.unlock()
    gate = None
    if use_gate and agent.runtime is not None:
        sup = agent.runtime
        holder: dict[str, Any] = {}

        def pause():
            holder["cm"] = sup.hold("sending a transaction from the worker key")
            holder["cm"].__enter__()

        def resume():
            cm = holder.pop("cm", None)
            if cm is not None:
                cm.__exit__(None, None, None)

        gate = WriterGate(active_jobs=lambda: sup.active_jobs() or 0, pause_worker=pause, resume_worker=resume)
    return OpContext.create(agent.network, key, gate=gate, client=agent.chain)


def register(agent: Agent, models: list[str], progress) -> None:
    from .chain.ops import register as chain_register

    res = chain_register(_ctx(agent, use_gate=False), agent.custody.ecdh_public_key(), models, progress=progress)
    if res.low_gas_warning:
        progress(res.low_gas_warning, None)
    refresh_chain(agent)


def resume_worker(agent: Agent) -> None:
    if agent.runtime is not None:
        agent.runtime.resume()


def _after(agent: Agent, res):
    try:
        refresh_chain(agent)
    except AgentError:
        pass
    return res


def _supervisor(agent: Agent):
    """The running supervisor, or a clear error when this agent does not manage the worker container."""
    if agent.runtime is None:
        raise AgentError("the worker container is not managed by this agent process",
                         fix="run the agent with 'lcai-tray serve' (or the tray), which manages the worker",
                         code="worker_unmanaged")
    return agent.runtime


def op_start(agent: Agent, progress):
    sup = _supervisor(agent)
    if not local_models(agent):
        raise AgentError("setup is not finished", fix="finish onboarding first", code="setup_needed")
    sup.resume()
    progress("starting the worker", None)
    return {"started": True}


def op_stop(agent: Agent, progress):
    sup = _supervisor(agent)
    progress("stopping the worker (it finishes running jobs first)", None)
    sup.pause("stopped by user")
    return {"stopped": True}


def op_restart(agent: Agent, progress):
    sup = _supervisor(agent)
    progress("restarting the worker", None)
    sup.restart()
    return {"restarted": True}


def op_settle(agent: Agent, progress):
    from .chain.ops import settle

    agent.require_key()
    progress("the worker pauses briefly while earnings are released (it owns the key's nonce)", None)
    return _after(agent, settle(_ctx(agent), cache_path(agent), progress=progress))


def withdraw_preview(agent: Agent, to: str, amount: str, force: bool = False) -> dict:
    from .chain.ops import validate_destination
    from .chain.ops.withdraw import plan_amount, transfer_fee

    addr = agent.require_key()
    dest = validate_destination(to, own=addr)
    snap = agent._snapshot
    if snap is None:
        refresh_chain(agent)
        snap = agent._snapshot
    if snap is None:
        raise AgentError("the chain is not reachable", fix="check the RPC in Settings", code="rpc_unavailable")
    fee = transfer_fee(agent.chain)  # the same fee bound the send is signed with
    reserve = agent.network.low_gas_wei if snap.registered and not force else 0
    balance = snap.balance_wei
    value = plan_amount(amount, balance, fee, reserve)
    return {"to": dest, "amount_wei": str(value), "fee_wei": str(fee), "remaining_wei": str(balance - value - fee),
            "reserve_wei": str(reserve)}


def op_withdraw(agent: Agent, to: str, amount: str, force: bool, progress):
    from .chain.ops import withdraw_native

    res = withdraw_native(_ctx(agent), to, amount, force=force, progress=progress)
    agent.history.withdrawal(agent.network.name, res.tx_hash, res.to, res.amount_wei, res.fee_wei)
    return _after(agent, res)


def op_deregister(agent: Agent, progress):
    """Long-running and persisted (resumes after a restart): stop → release while the dispute window runs out →
    clear stuck jobs (no-fault path) → active jobs 0 → deregister → watchdog paused → offer Withdraw."""
    from .chain.errors import PreconditionFailed
    from .chain.ops import clear_stuck_jobs, deregister, deregister_eta, settle

    worker_store(agent).update(deregistering=True)
    if agent.consumer is not None:
        agent.consumer.stop()  # devnet: no new jobs for a worker that is leaving
        agent.consumer = None
    if agent.runtime is not None:
        progress("stopping the worker (only a stopped worker takes no new jobs)", 0.05)
        agent.runtime.pause("deregistering")
    res = None
    while True:
        refresh_chain(agent)
        snap = agent._snapshot
        if snap is None or not snap.registered:
            break
        if snap.active_jobs == 0:
            try:
                res = deregister(_ctx(agent), cache_path=cache_path(agent), progress=progress)
                break
            except PreconditionFailed as e:
                if not e.eta:
                    raise
        ctx = _ctx(agent)
        settle(ctx, cache_path(agent), progress=progress)
        stuck = clear_stuck_jobs(ctx, allow_slash=False, cache_path=cache_path(agent), progress=progress)
        refresh_chain(agent)
        if agent._snapshot.active_jobs == 0:
            continue
        eta = deregister_eta(ctx, cache_path(agent)) or 0
        waits = [eta] + [j.available_at for j in stuck.jobs if j.available_at]
        until = max(waits) if waits else 0
        _countdown(agent, until, progress)
    worker_store(agent).update(deregistering=False)
    set_local_models(agent, [])
    done = agent.onboarding.store.get("done", {})
    done.pop(agent.network.name, None)
    agent.onboarding.store.update(done=done)
    if agent.devnet is not None:
        _start_consumer(agent)
    out = res.to_dict() if res is not None else {"already_deregistered": True}
    out["next"] = "withdraw the returned stake to your own wallet"
    _after(agent, None)
    return out


def _countdown(agent: Agent, until_chain_ts: int, progress, step_s: float = 5.0) -> None:
    """Wait until the chain's clock passes ``until_chain_ts``, reporting the time left."""
    while not agent._stop.is_set():
        if agent.devnet is not None:
            agent.devnet.rpc("evm_mine", [])  # anvil mines on demand: let chain time follow the clock
        _number, now = agent.chain.head()
        left = until_chain_ts - now
        if left <= 0:
            return
        h, rem = divmod(left, 3600)
        progress(f"waiting for the dispute window: {h}h {rem // 60:02d}m {rem % 60:02d}s left", None)
        agent._stop.wait(min(step_s, max(1.0, left)))


def resume_pending(agent: Agent) -> None:
    """After a restart: continue a deregistration that was running."""
    if worker_store(agent).get("deregistering"):
        log.info("resuming the deregistration that was running when the agent stopped")
        agent.runner.submit("deregister", lambda p: op_deregister(agent, p), {"resumed": True})


def stuck_view(agent: Agent) -> dict:
    from .chain.ops import find_stuck_jobs

    addr = agent.active_address()
    if not addr or agent.chain is None:
        return {"jobs": [], "slash_applies": False}
    jobs = find_stuck_jobs(agent.chain, addr, cache_path(agent))
    agent._merge(stuck_jobs=len(jobs))
    return {"jobs": [j.to_dict() for j in jobs], "slash_applies": any(j.slash_wei > 0 for j in jobs)}


def op_clear_stuck(agent: Agent, allow_slash: bool, progress):
    from .chain.ops import clear_stuck_jobs

    res = clear_stuck_jobs(_ctx(agent), allow_slash=allow_slash, cache_path=cache_path(agent), progress=progress)
    try:
        stuck_view(agent)
    except AgentError:
        pass
    return _after(agent, res)


def op_set_models(agent: Agent, models: list[str], progress):
    """Pull new ones first → on-chain add/remove (no re-stake) → restart with the new set → verify; roll back."""
    from .chain.ops import change_models

    old = local_models(agent)
    prepare_models(agent, models, progress)
    res = change_models(_ctx(agent), models, progress=progress)
    try:
        set_local_models(agent, models)
        if agent.runtime is not None:
            agent.runtime.restart()
            if not agent.wait_online(progress, timeout=agent.online_wait_s):
                raise AgentError("the worker did not come online with the new models",
                                 fix="the previous model set was restored", code="not_online")
    except AgentError:
        progress("rolling back to the previous model set", None)
        change_models(_ctx(agent), old, progress=progress)
        set_local_models(agent, old)
        raise
    return _after(agent, res)


def op_speedtest(agent: Agent, models: list[str], progress):
    from .speedtest import run_speed_test

    models = models or local_models(agent) or agent.onboarding.chosen_models()
    if not models:
        raise ValidationError("no models to test", fix="choose models first", field="models")
    if agent.ollama is None:
        raise AgentError("no Ollama to test against on this network",
                         fix="set an Ollama URL in Settings (devnet simulates inference)", code="ollama_down")
    def active_jobs() -> int:
        n = agent.runtime.active_jobs() if agent.runtime else 0
        return 1 if n is None else n  # unreadable metrics count as busy: never unload then

    return run_speed_test(agent.ollama.url, models, active_jobs=active_jobs, progress=progress)


def op_recover(agent: Agent, entry_id: str, progress):
    progress("archiving the current key and restoring the chosen one", None)
    if agent.runtime is not None:
        with agent.runtime.hold("switching the worker key"):
            address = agent.custody.restore(entry_id)
    else:
        address = agent.custody.restore(entry_id)
    agent._merge(address=address)
    return _after(agent, {"address": address})


def op_top_up(agent: Agent, amount: str, progress):
    from .chain.ops import top_up

    return _after(agent, top_up(_ctx(agent), amount, progress=progress))


def op_reinstate(agent: Agent, progress):
    from .chain.ops import reinstate

    return _after(agent, reinstate(_ctx(agent), progress=progress))


def op_free_memory(agent: Agent, progress):
    if agent.ollama is None:
        return {"unloaded": []}
    if agent.runtime is not None and not agent.runtime.paused:
        raise AgentError("the worker is running and needs its models in memory",
                         fix="stop the worker first, then free memory", code="worker_running")
    agent.ollama.unload()
    progress("models unloaded", 1.0)
    return {"unloaded": True}


def op_remove_worker(agent: Agent, progress):
    if agent.runtime is not None:
        agent.runtime.pause("worker removed")
        agent.runtime.remove_container()
    set_local_models(agent, [])
    archived = agent.custody.archive_active("worker removed")
    agent._merge(address="", registered=False)
    return {"archived": archived.to_dict() if archived else None}


def op_devnet_fund(agent: Agent, progress):
    """Devnet only: pay the worker from the pre-funded "your wallet" account (stands in for a browser wallet)."""
    from .chain.tx import TxSender
    from .chain.writer import WriterGate

    if agent.devnet is None:
        raise ValidationError("funding from the built-in wallet exists only on devnet",
                              fix="send LCAI from your own wallet", field="network")
    addr = agent.require_key()
    view = funding_view(agent)
    value = int(view["missing_wei"]) + 100 * 10**18  # a little extra so gas never runs low in demos
    wallet_key = bytes.fromhex(agent.devnet.user_wallet[1].removeprefix("0x"))
    gate = WriterGate()
    sender = TxSender(agent.chain, wallet_key, gate=gate)
    progress(f"sending {view['missing_lcai']} LCAI from the devnet wallet {sender.address}", None)
    with gate.session(progress):
        res = gate.send(lambda: sender.send(addr, value=value), progress)
    refresh_chain(agent)
    return {"tx_hash": res.tx_hash, "amount_wei": str(value), "from": sender.address}


def op_switch_network(agent: Agent, network: str, progress):
    progress(f"switching to {network}", None)
    agent.switch_network(network)
    return {"network": network}


# --- dashboard views ----------------------------------------------------------------------------------------
def earnings_view(agent: Agent) -> dict:
    series = agent.history.earnings_series(agent.network.name)
    st = agent.status()
    return {"series": series, "totals": {"stake_wei": str(st.stake_wei), "escrowed_wei": str(st.escrowed_wei),
                                         "releasable_wei": str(st.releasable_wei),
                                         "worker_balance_wei": str(st.worker_balance_wei),
                                         "wallet_wei": str(st.wallet_wei),
                                         "withdrawn_wei": str(agent.history.withdrawn_total(agent.network.name))}}


def jobs_view(agent: Agent) -> dict:
    from .chain.ops import earnings

    addr = agent.custody.address()
    if not addr or agent.chain is None:
        return {"jobs": []}
    e = earnings(agent.chain, addr, cache_path=cache_path(agent))
    return {"jobs": e.jobs[-200:]}


# --- settings ------------------------------------------------------------------------------------------------
def check_rpc_override(agent: Agent, value: Any) -> None:
    """An RPC override must answer and report the network's chain id before it is saved."""
    from .chain.rpc import RpcClient
    from .settings import validate_url

    if not isinstance(value, dict):
        raise ValidationError("rpc_override must map a network to a URL", fix='e.g. {"testnet": "https://..."}',
                              field="rpc_override")
    from .networks import load_networks

    nets = load_networks(agent.paths.networks_override)
    for net, url in value.items():
        if net not in nets:
            raise ValidationError(f"rpc_override names an unknown network {str(net)[:40]!r}",
                                  fix="use testnet, mainnet or devnet as the key", field="rpc_override")
        url = validate_url(url, "rpc_override")
        if not url:
            continue
        try:
            cid = int(RpcClient(url, timeout_s=5).call("eth_chainId", []), 16)
        except AgentError as e:
            raise ValidationError(f"the RPC {url} does not answer ({e.message})", fix="check the URL",
                                  field="rpc_override") from None
        except Exception:
            raise ValidationError(f"the RPC {url} does not answer", fix="check the URL", field="rpc_override") from None
        want = nets[net].chain_id if net != agent.network.name else agent.network.chain_id
        if cid != want:
            raise ValidationError(f"the RPC {url} is chain {cid}, not {net} ({want})",
                                  fix=f"use an RPC of {net}", field="rpc_override")


def apply_settings(agent: Agent, changes: dict) -> None:
    if "manual_vram_bytes" in changes:
        agent._hardware = None  # the fit and the hardware verdict use the number the user entered
    if "release_feed" in changes:
        from .updates import UpdateChecker

        agent.updates = UpdateChecker(settings=agent.settings.all())
        threading.Thread(target=check_updates, args=(agent,), daemon=True, name="update-check").start()
    if "autostart" in changes:
        from .runtime import autostart

        try:
            if changes["autostart"]:
                autostart.enable(profile=agent.paths.profile)
            else:
                autostart.disable(profile=agent.paths.profile)
        except AttributeError:
            log.warning("autostart module has no enable/disable")
    if "keep_awake" in changes and agent.runtime is not None:
        ka = agent.runtime.keep_awake
        ka.enabled = bool(changes["keep_awake"])
        if not ka.enabled:
            ka.release()
        agent.runtime.wake()


def wait_until(pred, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return False
