"""Local signing and sending: chain id checked before any signature, gas estimate with margin, EIP-1559 when
the chain has a base fee (else legacy), receipt waited with a timeout, reverts decoded, fee-bump replacement."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_utils import to_checksum_address

from tray_agent.common.errors import KeyMismatchError
from tray_agent.common.words import plural

from .. import failpoints
from .abi import Contract, DecodedLog
from .client import ChainClient, to_int
from .errors import CallReverted, ChainError, PendingTransaction, TxTimeout
from .revert import reverted_from_data

if TYPE_CHECKING:
    from .writer import WriterGate

GWEI = 10**9


class SignerMismatch(KeyMismatchError):
    """The key about to sign is not the worker's key the operation targets (lesson 19): nothing is signed."""

    code = "key_mismatch"

    def __init__(self, signer: str, target: str):
        super().__init__(
            f"refusing to sign: the key about to sign is {signer}, but this operation is for the worker {target}; "
            "nothing was signed or sent",
            fix="the keystore on disk does not belong to this worker: restore the worker's keystore from a backup "
                "or 'keys recover', or import it again",
        )
        self.signer = signer
        self.target = target


@dataclass(frozen=True)
class TxResult:
    tx_hash: str
    nonce: int
    block_number: int
    gas_used: int
    effective_gas_price: int
    logs: tuple[dict, ...] = field(default_factory=tuple, repr=False)
    contract_address: str = ""

    @property
    def fee_wei(self) -> int:
        return self.gas_used * self.effective_gas_price

    def events(self, contract: Contract, name: str | None = None) -> list[DecodedLog]:
        out = []
        for log in self.logs:
            if contract.address and log.get("address", "").lower() != contract.address.lower():
                continue
            d = contract.decode_log(log)
            if d and (name is None or d.name == name):
                out.append(d)
        return out

    def to_dict(self) -> dict:
        return {"tx_hash": self.tx_hash, "nonce": self.nonce, "block_number": self.block_number,
                "gas_used": self.gas_used, "fee_wei": str(self.fee_wei)}


def fee_fields(client: ChainClient) -> dict[str, int]:
    """EIP-1559 fields when the latest block has a base fee, else a legacy gasPrice (+10 %)."""
    blk = client.block("latest")
    base = blk.get("baseFeePerGas")
    if base is not None:
        try:
            tip = to_int(client.rpc.call("eth_maxPriorityFeePerGas"))
        except ChainError:
            tip = GWEI
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": to_int(base) * 2 + tip}
    price = to_int(client.rpc.call("eth_gasPrice"))
    return {"gasPrice": price * 11000 // 10000}


class TxSender:
    """Signs with a local key and sends. Worker-key senders carry the WriterGate and only send inside it."""

    def __init__(self, client: ChainClient, private_key: bytes, *, gate: WriterGate | None = None,
                 receipt_timeout_s: float = 120.0, poll_s: float = 0.1, gas_margin: float = 1.25,
                 expected_address: str | None = None):
        self.client = client
        from eth_account import Account  # ~25 MB: loaded on the first send, not while idle

        self._account = Account.from_key(private_key)
        # The worker address the operations of this sender target; checked before every signature.
        self.expected_address = to_checksum_address(expected_address) if expected_address else None
        self.gate = gate
        self.receipt_timeout_s = receipt_timeout_s
        self.poll_s = poll_s
        self.gas_margin = gas_margin
        self._sent: dict[int, dict] = {}  # nonce -> unsigned tx (for fee-bump replacement)

    def __repr__(self) -> str:  # never show the key
        return f"TxSender({self.address})"

    @property
    def address(self) -> str:
        return self._account.address

    def check_signer(self) -> None:
        """Raise SignerMismatch unless the signing key belongs to ``expected_address`` (when one is set)."""
        if self.expected_address is not None and self.expected_address != self.address:
            raise SignerMismatch(self.address, self.expected_address)

    # ---- building blocks ----
    def fees(self) -> dict[str, int]:
        return fee_fields(self.client)

    @staticmethod
    def max_fee_per_gas(fees: dict[str, int]) -> int:
        return fees.get("maxFeePerGas", fees.get("gasPrice", 0))

    def estimate_gas(self, to: str | None, data: str, value: int) -> int:
        tx: dict[str, Any] = {"from": self.address, "data": data, "value": hex(value)}
        if to:
            tx["to"] = to_checksum_address(to)
        return to_int(self.client.rpc.call("eth_estimateGas", [tx]))

    def pending_gap(self) -> tuple[int, int]:
        """(latest nonce, pending nonce): a gap means a transaction of ours is still in the pool."""
        latest, pending = self.client.rpc.batch([
            ("eth_getTransactionCount", [self.address, "latest"]),
            ("eth_getTransactionCount", [self.address, "pending"]),
        ])
        for r in (latest, pending):
            if isinstance(r, Exception):
                raise r
        return to_int(latest), to_int(pending)

    def wait_no_pending(self, timeout_s: float | None = None) -> None:
        """Block until no transaction of ours is pending (e.g. one sent before a crash)."""
        deadline = time.monotonic() + (self.receipt_timeout_s if timeout_s is None else timeout_s)
        while True:
            latest, pending = self.pending_gap()
            if pending <= latest:
                return
            if time.monotonic() >= deadline:
                raise PendingTransaction(
                    f"{plural(pending - latest, 'earlier transaction')} from {self.address} {'is' if pending - latest == 1 else 'are'} still pending",
                    fix="wait for them to be mined, or replace the stuck one with a higher fee",
                )
            time.sleep(self.poll_s)

    # ---- send ----
    def send(self, to: str | None, data: str = "0x", value: int = 0, *, gas: int | None = None,
             gas_margin: float | None = None, wait: bool = True,
             on_signed: Callable[[str, int], None] | None = None) -> TxResult | str:
        """Sign locally and send; returns the TxResult (or the hash when ``wait`` is False).

        ``on_signed(tx_hash, nonce)`` runs after signing and before the broadcast (write-ahead: an operation records
        the hash durably first, so after a crash it can tell whether its transaction was mined).

        Raises CallReverted (estimate reverted: nothing sent), WrongChain (nothing signed), NonceConflict,
        InsufficientFunds, TxReverted (mined with status 0, decoded), TxTimeout (outcome unknown).
        """
        if self.gate is not None:
            self.gate.assert_held()
            if self.gate.stop_allowed:
                # The worker is stopped: a pending transaction of this key is one a killed agent (or the container
                # before it stopped) left in the pool. Wait for it first, so this send is decided on its outcome
                # and never races it with the next nonce (PendingTransaction when it does not get mined).
                self.wait_no_pending()
        self.check_signer()
        chain_id = self.client.ensure_chain()  # before any signature
        if gas is None:
            est = self.estimate_gas(to, data, value)
            gas = int(est * (gas_margin or self.gas_margin)) + 1
        nonce = self.client.nonce(self.address, "pending")
        tx: dict[str, Any] = {"chainId": chain_id, "nonce": nonce, "gas": gas, "value": value, "data": data,
                              **self.fees()}
        if to:
            tx["to"] = to_checksum_address(to)
        if "maxFeePerGas" in tx:
            tx["type"] = 2
        tx_hash = self._sign_and_send(tx, on_signed)
        if not wait:
            return tx_hash
        return self.wait(tx_hash, nonce)

    def call_and_send(self, contract: Contract, fn: str, *args: Any, value: int = 0,
                      gas_margin: float | None = None,
                      on_signed: Callable[[str, int], None] | None = None) -> TxResult:
        """Preflight by eth_call (decoded revert, nothing sent), then send and wait."""
        self.preflight(contract, fn, *args, value=value)
        res = self.send(contract.address, contract.encode(fn, *args), value, gas_margin=gas_margin,
                        on_signed=on_signed)
        assert isinstance(res, TxResult)
        return res

    def preflight(self, contract: Contract, fn: str, *args: Any, value: int = 0) -> Any:
        return self.client.call(contract, fn, *args, sender=self.address, value=value)

    def _sign_and_send(self, tx: dict, on_signed: Callable[[str, int], None] | None = None) -> str:
        self.check_signer()  # the one place that signs: never with a key that is not the target worker's
        signed = self._account.sign_transaction(tx)
        self._sent[tx["nonce"]] = tx
        raw = "0x" + bytes(signed.raw_transaction).hex()
        if on_signed is not None:
            on_signed("0x" + bytes(signed.hash).hex(), tx["nonce"])
        failpoints.hit("tx.before_broadcast")
        tx_hash = self.client.rpc.call("eth_sendRawTransaction", [raw])
        failpoints.hit("tx.after_broadcast")
        return tx_hash

    def wait(self, tx_hash: str, nonce: int, timeout_s: float | None = None) -> TxResult:
        timeout = self.receipt_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        while True:
            rcpt = self.client.rpc.call("eth_getTransactionReceipt", [tx_hash])
            if rcpt:
                break
            if time.monotonic() >= deadline:
                raise TxTimeout(tx_hash, nonce, timeout)
            time.sleep(self.poll_s)
        self._sent.pop(nonce, None)
        block = to_int(rcpt["blockNumber"])
        if to_int(rcpt["status"]) != 1:
            raise self._explain_failure(tx_hash, block)
        return TxResult(
            tx_hash=tx_hash, nonce=nonce, block_number=block, gas_used=to_int(rcpt["gasUsed"]),
            effective_gas_price=to_int(rcpt.get("effectiveGasPrice") or "0x0"), logs=tuple(rcpt.get("logs") or ()),
            contract_address=to_checksum_address(rcpt["contractAddress"]) if rcpt.get("contractAddress") else "",
        )

    def _explain_failure(self, tx_hash: str, block: int) -> Exception:
        """Replay a failed transaction by eth_call on the parent block to recover the revert data."""
        tx = self.client.rpc.call("eth_getTransactionByHash", [tx_hash]) or {}
        call = {"from": tx.get("from"), "to": tx.get("to"), "data": tx.get("input", "0x"), "value": tx.get("value", "0x0"),
                "gas": tx.get("gas")}
        try:
            self.client.rpc.call("eth_call", [call, hex(max(block - 1, 0))])
        except CallReverted as e:
            return reverted_from_data(e.data, tx_hash=tx_hash, mined=True)
        except ChainError:
            pass
        return reverted_from_data(None, tx_hash=tx_hash, mined=True)

    # ---- stuck transactions ----
    def speed_up(self, nonce: int | None = None, *, factor: int = 2, wait: bool = True) -> TxResult | str:
        """Replace our pending tx at ``nonce`` (default: the lowest pending) with fees × ``factor``.

        Re-sends the same call when this sender built it, else a 0-value self-transfer (cancel)."""
        if self.gate is not None:
            self.gate.assert_held()
        chain_id = self.client.ensure_chain()
        latest, pending = self.pending_gap()
        if nonce is None:
            if pending <= latest:
                raise ChainError("no pending transaction to replace", fix="nothing to do")
            nonce = latest
        fresh = self.fees()
        orig = self._sent.get(nonce) or {"chainId": chain_id, "nonce": nonce, "gas": 21000, "value": 0, "data": "0x",
                                         "to": self.address}
        tx = dict(orig, chainId=chain_id)
        for k in ("maxFeePerGas", "maxPriorityFeePerGas", "gasPrice"):
            tx.pop(k, None)
        if "maxFeePerGas" in fresh:
            old_tip = orig.get("maxPriorityFeePerGas", 0)
            old_max = orig.get("maxFeePerGas", 0)
            tx["maxPriorityFeePerGas"] = max(fresh["maxPriorityFeePerGas"], old_tip * factor, 1)
            tx["maxFeePerGas"] = max(fresh["maxFeePerGas"], old_max * factor) + tx["maxPriorityFeePerGas"]
            tx["type"] = 2
        else:
            tx.pop("type", None)
            tx["gasPrice"] = max(fresh["gasPrice"], orig.get("gasPrice", 0) * factor)
        tx_hash = self._sign_and_send(tx)
        return self.wait(tx_hash, nonce) if wait else tx_hash
