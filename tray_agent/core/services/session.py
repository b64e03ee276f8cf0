"""Everything that belongs to one network: chain (and the devnet), key custody, the worker, chain sync, money
and model services. A network switch stops one session and starts the next; nothing of the old one lingers."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from tray_agent.common.errors import AgentError, KeyCustodyError
from tray_agent.common.paths import Paths

from ..chain.client import ChainClient
from ..history import History
from ..keys import KeyCustody, open_secret_store
from ..networks import Network
from ..settings import Settings
from ..state_owner import StateOwner
from . import exit_flow
from .chain_sync import ChainSync
from .demand import DemandService
from .exit_flow import Deregistration
from .models import ModelService
from .money import MoneyOps
from .worker import WorkerService

log = logging.getLogger(__name__)
CONSUMER_RATE_PER_MIN = 6.0


class NetworkSession:
    def __init__(self, paths: Paths, network: Network, settings: Settings, owner: StateOwner, history: History,
                 *, secrets_file, manage_worker: bool, stop: threading.Event,
                 chosen_models: Callable[[], list[str]], wait_ready: Callable[[float], None],
                 on_left: Callable[[], None]):
        self.paths = paths
        self.network = network
        self.settings = settings
        self.owner = owner
        self.history = history
        self.manage_worker = manage_worker
        self.stop_event = stop
        self.chosen_models = chosen_models
        self.wait_ready = wait_ready
        self.on_left = on_left
        store = open_secret_store(paths.keyring_service(network.name), secrets_file)
        self.custody = KeyCustody(paths, network, store, staked_checker=self._still_staked)
        self.devnet = None
        self.consumer = None
        self.chain: ChainClient | None = None
        self.worker = WorkerService(paths, network, settings, self.custody, owner, self.active_address,
                                    manage=manage_worker)
        self.sync: ChainSync | None = None
        self.money: MoneyOps | None = None
        self.models: ModelService | None = None
        self.exit: Deregistration | None = None
        self.demand: DemandService | None = None
        self._stop_sim_ollama: Callable[[], None] | None = None

    # --- keys --------------------------------------------------------------------------------------------
    def active_address(self) -> str | None:
        """The active key's address; a damaged key is reported (state ERROR until fixed), never raised."""
        try:
            addr = self.custody.address()
        except KeyCustodyError as e:
            if self.owner.facts.key_error is None:
                log.error("worker key problem: %s", e)
                self.owner.report(key_error=(e.message, e.fix))
            return None
        if self.owner.facts.key_error is not None or self.owner.facts.address != (addr or ""):
            self.owner.report(key_error=None, address=addr or "")
        return addr

    def _still_staked(self, address: str) -> bool:
        if self.chain is None:
            raise AgentError("chain not connected")
        return self.chain.is_still_staked(address)

    # --- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        net = self.network
        if net.is_devnet:
            from ..devnet import start_devnet

            self.devnet = start_devnet(self.paths.network_dir("devnet") / "chain")
            self.network = net = self.devnet.network(net)
            self.custody.network = net
            self.worker.network = net
            log.info("devnet chain at %s (chain id %s)", self.devnet.rpc_url, self.devnet.chain_id)
            self._start_sim_ollama()
        self.chain = ChainClient(net)
        cache = self.paths.network_dir(net.name) / "jobs-cache.json"
        self.sync = ChainSync(net, self.chain, self.owner, self.history, self.active_address,
                              lambda: self.models.names() if self.models else [], self.worker.store, cache,
                              on_era=self.worker.follow_era)
        self.money = MoneyOps(net, self.chain, self.custody, self.worker, self.sync, self.history, cache)
        self.models = ModelService(net, self.settings, self.sync, self.worker,
                                   list(self.devnet.models) if self.devnet else None, self.chosen_models,
                                   self.wait_ready)
        self.demand = DemandService(self.chain, self.paths.network_dir(net.name) / "demand-cache.json", self.models,
                                    self.history, net.name, self.active_address)
        self.exit = Deregistration(self.money, self.sync, self.worker, self.stop_event,
                                   mine_block=(lambda: self.devnet.rpc("evm_mine", [])) if self.devnet else None,
                                   on_leaving=self.stop_consumer, on_left=self._left,
                                   on_cancelled=self.start_consumer,
                                   on_schedule=lambda at: self.owner.report(deregister_at=at),
                                   poll_s=5.0 if self.devnet else exit_flow.POLL_S)
        threading.Thread(target=self.sync.self_check, name="selfcheck", daemon=True).start()
        self.worker.start()
        if self.devnet is not None and not self.exit.pending:
            self.start_consumer()
        self.exit.announce()  # a deregistration scheduled before a restart: shown, and no new devnet jobs

    def stop(self, keep_worker: bool = True, remove: bool = False) -> None:
        self.stop_consumer()
        self.worker.stop(keep_worker=keep_worker, remove=remove)
        if self._stop_sim_ollama is not None:
            self._stop_sim_ollama()
            self._stop_sim_ollama = None
        if self.devnet is not None:
            self.devnet.stop()
            self.devnet = None

    def _start_sim_ollama(self) -> None:
        """Devnet ships a simulated Ollama (its HTTP API, timings by model size, load/unload, pull progress), so the
        speed test, pinning and pull progress work in the demo. It runs as its own process (dies with the agent,
        one per profile and network) and keeps its port across restarts."""
        if self.settings["ollama_url"]:
            return  # the user pointed devnet at a real Ollama
        from ...devnet.sim_ollama_process import SimOllamaProcess

        store = self.worker.store
        scale = float(os.environ.get("LCAI_SIM_OLLAMA_TIME_SCALE") or 1.0)  # tests wait a fraction of the real time
        sim = SimOllamaProcess(self.paths.network_dir("devnet") / "sim-ollama.json",
                               self.paths.logs / "devnet-sim-ollama.log", self.paths.runtime,
                               port=int(store.get("sim_ollama_port") or 0), time_scale=scale)
        self._stop_sim_ollama = sim.stop
        store.update(sim_ollama_port=sim.port)
        self.worker.sim_ollama_url = sim.url
        log.info("devnet: simulated Ollama at %s (pid %s)", sim.url, sim.pid)

    def _left(self) -> None:
        self.on_left()
        if self.devnet is not None:
            self.start_consumer()

    # --- devnet consumer ----------------------------------------------------------------------------------
    def start_consumer(self) -> None:
        dn = self.devnet
        if dn is None or self.consumer is not None:
            return
        try:
            from ...devnet.consumer_process import ConsumerProcess

            # its own process, dies with the agent (parent-death signal / parent watch), one per chain (lock)
            self.consumer = ConsumerProcess(dn.rpc_url, dn.chain_id, CONSUMER_RATE_PER_MIN,
                                            self.paths.logs / "devnet-consumer.log", lock_dir=self.paths.runtime)
        except Exception as e:
            log.warning("devnet consumer did not start: %s", e)

    def stop_consumer(self) -> None:
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            consumer.stop()
