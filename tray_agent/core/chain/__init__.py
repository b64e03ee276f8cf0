"""Chain layer: LightChain worker contracts over JSON-RPC (reads, signed sends, every operation).

Import cost: pulls eth-account/eth-abi (~30-45 MiB); import lazily from the tray process.
"""

from .client import ChainClient, ChainSnapshot, ModelInfo, is_still_staked
from .errors import (
    CallReverted,
    ChainError,
    InsufficientFunds,
    ModelNotAllowed,
    NonceConflict,
    PendingTransaction,
    PreconditionFailed,
    Reverted,
    RpcBadResponse,
    RpcError,
    RpcTimeout,
    RpcUnavailable,
    TxReverted,
    TxTimeout,
    WriterBusy,
    WrongChain,
)
from .models import KNOWN_MODELS, model_id
from .tx import TxResult, TxSender
from .writer import WriterGate

__all__ = [
    "KNOWN_MODELS", "CallReverted", "ChainClient", "ChainError", "ChainSnapshot", "InsufficientFunds", "ModelInfo",
    "ModelNotAllowed", "NonceConflict", "PendingTransaction", "PreconditionFailed", "Reverted", "RpcBadResponse",
    "RpcError", "RpcTimeout", "RpcUnavailable", "TxReverted", "TxResult", "TxSender", "TxTimeout", "WriterBusy",
    "WriterGate", "WrongChain", "is_still_staked", "model_id",
]
