"""Typed chain errors (all subclasses of core.errors.AgentError). Messages never contain keys or raw tx."""

from __future__ import annotations

from typing import Any

from tray_agent.common.errors import AgentError


class ChainError(AgentError):
    code = "chain_error"


class RpcUnavailable(ChainError):
    """Connection refused / DNS / TLS / HTTP error: the node cannot be reached."""

    code = "rpc_unavailable"

    def __init__(self, message: str, *, fix: str = "", url: str = "", **kw: Any):
        super().__init__(message, fix=fix or "check the RPC address and your internet connection, then retry", **kw)
        self.url = url


class RpcTimeout(RpcUnavailable):
    code = "rpc_timeout"


class RpcBadResponse(RpcUnavailable):
    """The endpoint answered, but not with JSON-RPC (junk, HTML, wrong ids)."""

    code = "rpc_bad_response"


class RpcError(ChainError):
    """A JSON-RPC error object that is not a revert (e.g. method not found)."""

    code = "rpc_error"

    def __init__(self, message: str, *, rpc_code: int | None = None, data: Any = None, fix: str = ""):
        super().__init__(message, fix=fix)
        self.rpc_code = rpc_code
        self.data = data


class BadReturnData(ChainError):
    """A call returned data that does not decode (e.g. no contract at that address, or an ABI change)."""

    code = "bad_return_data"


class WrongChain(ChainError):
    code = "wrong_chain"

    def __init__(self, expected: int, actual: int, network: str = ""):
        super().__init__(
            f"the RPC serves chain id {actual}, but {network or 'the selected network'} is chain id {expected}",
            fix="point the RPC address at the selected network (nothing was signed or sent)",
        )
        self.expected = expected
        self.actual = actual


class Reverted(ChainError):
    """A call or transaction reverted; ``error_name``/``args`` decoded from the custom error when known."""

    code = "reverted"

    def __init__(
        self,
        message: str,
        *,
        fix: str = "",
        error_name: str = "",
        args: dict | None = None,
        selector: str = "",
        data: str = "",
        eta: int | None = None,
        tx_hash: str = "",
    ):
        super().__init__(message, fix=fix)
        self.error_name = error_name
        self.error_args = args or {}
        self.selector = selector
        self.data = data
        self.eta = eta
        self.tx_hash = tx_hash

    def to_dict(self) -> dict:
        out = super().to_dict()
        out.update({"error": self.error_name, "selector": self.selector})
        if self.error_args:
            out["args"] = {k: (str(v) if isinstance(v, int) and not isinstance(v, bool) else v)
                           for k, v in self.error_args.items()}
        if self.eta is not None:
            out["eta"] = self.eta
        if self.tx_hash:
            out["tx_hash"] = self.tx_hash
        return out


class CallReverted(Reverted):
    """eth_call / eth_estimateGas reverted (nothing was sent)."""

    code = "call_reverted"


class TxReverted(Reverted):
    """A mined transaction has status 0."""

    code = "tx_reverted"


class TxTimeout(ChainError):
    """Sent, but no receipt in time: the outcome is unknown (never reported as done)."""

    code = "tx_timeout"

    def __init__(self, tx_hash: str, nonce: int, waited_s: float):
        super().__init__(
            f"transaction {tx_hash} (nonce {nonce}) was sent but not mined within {waited_s:.0f} s",
            fix="wait and check again; if it stays pending, replace it with a higher fee",
        )
        self.tx_hash = tx_hash
        self.nonce = nonce


class NonceConflict(ChainError):
    """``nonce too low`` / ``address already reserved`` / underpriced replacement: another sender is active."""

    code = "nonce_conflict"

    def __init__(self, message: str):
        super().__init__(f"a transaction from this address is pending ({message})", fix="retry shortly")


class InsufficientFunds(ChainError):
    code = "insufficient_funds"

    def __init__(self, message: str = "not enough LCAI for value + gas", fix: str = "send LCAI to the worker address",
                 field: str | None = None):
        super().__init__(message, fix=fix, field=field)


class PendingTransaction(ChainError):
    """An earlier transaction from this address is still pending (e.g. after a crash)."""

    code = "pending_transaction"


class PreconditionFailed(ChainError):
    """The on-chain state does not allow the operation now (checked before any transaction)."""

    code = "precondition_failed"

    def __init__(self, message: str, *, fix: str = "", eta: int | None = None, field: str | None = None):
        super().__init__(message, fix=fix, field=field)
        self.eta = eta

    def to_dict(self) -> dict:
        out = super().to_dict()
        if self.eta is not None:
            out["eta"] = self.eta
        return out


class ModelNotAllowed(PreconditionFailed):
    code = "model_not_allowed"


class WriterBusy(ChainError):
    """The worker did not become idle in time, so the app did not send."""

    code = "writer_busy"
