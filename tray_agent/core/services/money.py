"""Operations that send from the worker key (or, on devnet, from the demo wallet).

Every send goes through the session's ONE WriterGate (built once per network session, so its lock serialises
sends across operations too), and the key is decrypted once per operation, not once per send or poll.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tray_agent.common.errors import AgentError, ValidationError

from ..chain.client import ChainClient
from ..chain.writer import WriterGate
from ..history import History
from ..keys import KeyCustody
from ..networks import Network
from .chain_sync import ChainSync
from .worker import WorkerService

log = logging.getLogger(__name__)


class MoneyOps:
    def __init__(self, network: Network, chain: ChainClient, custody: KeyCustody, worker: WorkerService,
                 sync: ChainSync, history: History, cache_path: Path):
        self.network = network
        self.chain = chain
        self.custody = custody
        self.worker = worker
        self.sync = sync
        self.history = history
        self.cache_path = cache_path
        self._gate: WriterGate | None = None

    # --- the one writer --------------------------------------------------------------------------------
    def gate(self) -> WriterGate:
        """The session's gate: waits for an idle worker, pauses it, sends, resumes (one for all operations)."""
        if self._gate is None:
            hooks = self.worker.writer_hooks()
            self._gate = WriterGate(*hooks) if hooks else WriterGate()
        return self._gate

    def context(self, *, use_gate: bool = True):
        """An OpContext for one operation: the key is decrypted here, once."""
        from ..chain.ops import OpContext

        # the key that signs must be the one of the worker the agent shows (checked before anything is signed)
        return OpContext.for_custody(self.network, self.custody, target=self.sync.owner.facts.address or None,
                                     gate=self.gate() if use_gate else None, client=self.chain)

    def refreshed(self, res: Any) -> Any:
        """``res``, after one chain refresh so the Status shows the operation's effect."""
        try:
            self.sync.refresh()
        except AgentError:
            pass
        return res

    def require_key(self) -> str:
        return self.custody.require_address()

    # --- operations ---------------------------------------------------------------------------------------
    def register(self, models: list[str], progress) -> None:
        from ..chain.ops import register as chain_register

        res = chain_register(self.context(use_gate=False), self.custody.ecdh_public_key(), models, progress=progress)
        if res.low_gas_warning:
            progress(res.low_gas_warning, None)
        self.sync.refresh()

    def settle(self, progress):
        from ..chain.ops import settle

        self.require_key()
        progress("the worker pauses briefly while earnings are released (it owns the key's nonce)", None)
        return self.refreshed(settle(self.context(), self.cache_path, progress=progress))

    def withdraw_preview(self, to: str, amount: str, force: bool = False) -> dict:
        from ..chain.ops import validate_destination
        from ..chain.ops.withdraw import plan_amount, transfer_fee

        addr = self.require_key()
        dest = validate_destination(to, own=addr)
        snap = self.sync.mine() or self.sync.refresh()
        if snap is None:
            raise AgentError("the chain is not reachable", fix="check the RPC in Settings", code="rpc_unavailable")
        fee = transfer_fee(self.chain)  # the same fee bound the send is signed with
        reserve = self.network.low_gas_wei if snap.registered and not force else 0
        value = plan_amount(amount, snap.balance_wei, fee, reserve)
        return {"to": dest, "amount_wei": str(value), "fee_wei": str(fee),
                "remaining_wei": str(snap.balance_wei - value - fee), "reserve_wei": str(reserve)}

    def withdraw(self, to: str, amount: str, force: bool, progress):
        from ..chain.ops import withdraw_native

        res = withdraw_native(self.context(), to, amount, force=force, progress=progress)
        self.history.withdrawal(self.network.name, res.tx_hash, res.to, res.amount_wei, res.fee_wei)
        return self.refreshed(res)

    def clear_stuck(self, allow_slash: bool, max_slash_wei: int, progress):
        from ..chain.ops import clear_stuck_jobs

        res = clear_stuck_jobs(self.context(), allow_slash=allow_slash, max_slash_wei=max_slash_wei,
                               cache_path=self.cache_path, progress=progress)
        try:
            self.sync.stuck_jobs()
        except AgentError:
            pass
        return self.refreshed(res)

    def change_models(self, models: list[str], progress):
        from ..chain.ops import change_models

        return change_models(self.context(), models, progress=progress)

    def top_up(self, amount: str, progress):
        from ..chain.ops import top_up

        return self.refreshed(top_up(self.context(), amount, progress=progress))

    def reinstate(self, progress):
        from ..chain.ops import reinstate

        return self.refreshed(reinstate(self.context(), progress=progress))

    def devnet_fund(self, devnet, missing_wei: int, missing_lcai: str, progress) -> dict:
        """Devnet only: pay the worker from the pre-funded "your wallet" account (stands in for a browser wallet)."""
        from ..chain.tx import TxSender

        if devnet is None:
            raise ValidationError("funding from the built-in wallet exists only on devnet",
                                  fix="send LCAI from your own wallet", field="network")
        addr = self.require_key()
        extra = 100 * 10**18  # a little extra so gas never runs low in demos
        value = missing_wei + extra
        wallet_key = bytes.fromhex(devnet.user_wallet[1].removeprefix("0x"))
        gate = WriterGate()  # the demo wallet is not the worker key: no pause needed
        sender = TxSender(self.chain, wallet_key, gate=gate)
        from tray_agent.common.amounts import format_lcai

        progress(f"sending {format_lcai(value)} LCAI ({missing_lcai} missing + 100 for gas) from the devnet wallet "
                 f"{sender.address}", None)
        with gate.session(progress):
            res = gate.send(lambda: sender.send(addr, value=value), progress)
        self.sync.refresh()
        return {"tx_hash": res.tx_hash, "amount_wei": str(value), "from": sender.address}
