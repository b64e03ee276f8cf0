"""OpContext: the client, the worker-key sender and the WriterGate every sending operation uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...networks import Network
from ..abi import Contract
from ..client import ChainClient
from ..tx import SignerMismatch, TxResult, TxSender
from ..writer import WriterGate

if TYPE_CHECKING:
    from ...keys.custody import KeyCustody

Progress = Callable[[str, "float | None"], None]


def no_progress(message: str, fraction: float | None = None) -> None:
    """Default progress callback (ignores updates)."""


def short_hash(tx_hash: str) -> str:
    return f"{tx_hash[:14]}…{tx_hash[-12:]}"


def announce(what: str, progress: Progress) -> Callable[[str, int], None]:
    """``on_signed`` callback: one progress line naming the transaction about to be broadcast.

    The hash is shortened (0x + 12 … 12 hex digits): a full 32-byte hex string is what the log redaction removes
    as a possible private key. The full hash goes to the runner's journal (``progress.record_tx``, the history's
    ``op_txs``) first: after a crash it, not the nonce, says whether this transaction was mined (the worker container
    signs with the same key and may take the nonce of a transaction that was never broadcast)."""
    record = getattr(progress, "record_tx", None)

    def on_signed(tx_hash: str, nonce: int) -> None:
        if record is not None:
            record(tx_hash, nonce)
        progress(f"sending {what} transaction {short_hash(tx_hash)} (nonce {nonce})", None)

    return on_signed


@dataclass
class OpContext:
    client: ChainClient
    sender: TxSender
    gate: WriterGate

    @classmethod
    def create(cls, network: Network, private_key: bytes, *, rpc_url: str | None = None,
               gate: WriterGate | None = None, receipt_timeout_s: float = 120.0,
               client: ChainClient | None = None, worker_address: str | None = None) -> OpContext:
        """Build a context; without ``gate`` a gate with no container (always idle, no pause) is used.

        ``worker_address``: the worker the operations target; every signature first checks the key belongs to it.
        """
        client = client or ChainClient(network, rpc_url)
        gate = gate or WriterGate()
        sender = TxSender(client, private_key, gate=gate, receipt_timeout_s=receipt_timeout_s,
                          expected_address=worker_address)
        sender.check_signer()  # fail before any work, not only at the first signature
        return cls(client=client, sender=sender, gate=gate)

    @classmethod
    def for_custody(cls, network: Network, custody: KeyCustody, *, target: str | None = None,
                    gate: WriterGate | None = None, client: ChainClient | None = None,
                    receipt_timeout_s: float = 120.0) -> OpContext:
        """A context signing with the active key of ``custody``, verified against the worker it belongs to.

        The key that decrypts must derive the address written in the keystore file (what the container uses), in
        key-meta.json, and ``target`` (the worker address the agent shows and the operation is for). Any
        difference raises SignerMismatch (code ``key_mismatch``) before anything is signed.
        """
        raw = custody.unlock()
        worker = verified_worker_address(custody, raw, target)
        return cls.create(network, raw, gate=gate, client=client, receipt_timeout_s=receipt_timeout_s,
                          worker_address=worker)

    @property
    def address(self) -> str:
        return self.sender.address

    @property
    def network(self) -> Network:
        return self.client.network

    def tx(self, contract: Contract, fn: str, *args: Any, value: int = 0, gas_margin: float | None = None,
           progress: Progress = no_progress) -> TxResult:
        """Preflight (eth_call, decoded revert, nothing sent) then send through the gate and wait.

        The signed transaction's hash goes to ``progress`` before the broadcast (the runner stores progress in the
        history at once): after a crash the interrupted operation names the transaction it may have sent."""
        return self.gate.send(
            lambda: self.sender.call_and_send(contract, fn, *args, value=value, gas_margin=gas_margin,
                                              on_signed=announce(fn, progress)), progress
        )


def verified_worker_address(custody: KeyCustody, private_key: bytes, target: str | None = None) -> str:
    """The worker address ``private_key`` may sign for; SignerMismatch when any record of it disagrees."""
    from eth_account import Account
    from eth_utils import to_checksum_address

    signer = Account.from_key(private_key).address
    declared = custody.address() or signer  # the keystore file's address field (the container reads this file)
    records = [declared, custody.meta().get("address"), target]
    for addr in records:
        if addr and to_checksum_address(addr) != signer:
            raise SignerMismatch(signer, to_checksum_address(addr))
    return to_checksum_address(target) if target else declared
