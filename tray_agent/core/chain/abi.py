"""ABI codec for the worker-facing contracts: calldata encoding, output/log decoding, custom-error lookup.

The worker ABI (``abi/worker_abi.json``, copied from the spec) is the contract surface the app relies on; the
replica artifacts add the owner/test functions and a few extra errors so devnet reverts decode as well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import eth_abi
from eth_abi.exceptions import DecodingError
from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector, to_checksum_address
from eth_utils.abi import get_abi_input_types, get_abi_output_types

ARTIFACT_NAMES = {
    "AIConfig": "AIConfigReplica",
    "WorkerRegistry": "WorkerRegistryReplica",
    "JobRegistry": "JobRegistryReplica",
}


@cache
def worker_abi() -> dict[str, list[dict]]:
    """The spec's worker-facing ABI, keyed by contract name."""
    text = resources.files("tray_agent.core.chain").joinpath("abi/worker_abi.json").read_text()
    return json.loads(text)


@cache
def artifact(name: str) -> dict:
    """A committed replica artifact (abi, bytecode, deployedBytecode, ...)."""
    text = resources.files("tray_agent.core.chain").joinpath(f"artifacts/{name}.json").read_text()
    return json.loads(text)


def _hex(data: bytes | str) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    s = data[2:] if data.startswith(("0x", "0X")) else data
    return bytes.fromhex(s)


def _plain(types_and_values: Any, abi_params: list[dict]) -> Any:
    """Turn decoded tuples into dicts keyed by component names; checksum addresses; bytes to 0x-hex."""
    out = []
    for p, v in zip(abi_params, types_and_values, strict=False):
        out.append(_convert(p, v))
    return out


def _convert(p: dict, v: Any) -> Any:
    t = p["type"]
    if t == "tuple":
        return {c["name"]: _convert(c, x) for c, x in zip(p["components"], v, strict=False)}
    if t.endswith("[]"):
        inner = dict(p, type=t[:-2])
        return [_convert(inner, x) for x in v]
    if t == "address":
        return to_checksum_address(v)
    if t.startswith("bytes"):
        return "0x" + bytes(v).hex()
    return v


@dataclass(frozen=True)
class DecodedLog:
    name: str
    address: str
    args: dict
    block_number: int
    tx_hash: str
    log_index: int


class Contract:
    """One contract's ABI (optionally bound to an address) with encode/decode helpers."""

    def __init__(self, name: str, abi: list[dict], address: str | None = None):
        self.name = name
        self.abi = abi
        self.address = to_checksum_address(address) if address else None
        self._fns = {i["name"]: i for i in abi if i["type"] == "function"}
        self._events = {i["name"]: i for i in abi if i["type"] == "event"}
        self._by_topic = {"0x" + event_abi_to_log_topic(i).hex(): i for i in self._events.values()}

    @classmethod
    def worker(cls, name: str, address: str | None = None, *, with_replica: bool = False) -> Contract:
        """Worker-ABI contract; ``with_replica`` adds the replica-only functions (devnet/test use)."""
        abi = list(worker_abi()[name])
        if with_replica:
            have = {(i["type"], i.get("name")) for i in abi}
            abi += [i for i in artifact(ARTIFACT_NAMES[name])["abi"] if (i["type"], i.get("name")) not in have]
        return cls(name, abi, address)

    def at(self, address: str) -> Contract:
        return Contract(self.name, self.abi, address)

    def fn(self, name: str) -> dict:
        try:
            return self._fns[name]
        except KeyError:
            raise KeyError(f"{self.name} has no function {name}") from None

    def selector(self, fn_name: str) -> str:
        return "0x" + function_abi_to_4byte_selector(self.fn(fn_name)).hex()

    def encode(self, fn_name: str, *args: Any) -> str:
        f = self.fn(fn_name)
        types = get_abi_input_types(f)
        if len(types) != len(args):
            raise TypeError(f"{self.name}.{fn_name} takes {len(types)} arguments, got {len(args)}")
        return "0x" + (function_abi_to_4byte_selector(f) + eth_abi.encode(types, list(args))).hex()

    def decode_output(self, fn_name: str, data: bytes | str) -> Any:
        f = self.fn(fn_name)
        try:
            values = eth_abi.decode(get_abi_output_types(f), _hex(data))
        except (DecodingError, ValueError) as e:
            from .errors import BadReturnData

            raw = _hex(data) if isinstance(data, (bytes, str)) else b""
            raise BadReturnData(
                f"{self.name}.{fn_name} returned {'no data' if not raw else 'undecodable data'}"
                f"{' (no contract at ' + self.address + '?)' if not raw and self.address else ''}",
                fix="check the network's contract addresses (the protocol may have changed)",
            ) from e
        plain = _plain(values, f["outputs"])
        return plain[0] if len(plain) == 1 else tuple(plain)

    def topic(self, event_name: str) -> str:
        return "0x" + event_abi_to_log_topic(self._events[event_name]).hex()

    def decode_log(self, log: dict) -> DecodedLog | None:
        topics = log.get("topics") or []
        if not topics:
            return None
        ev = self._by_topic.get(topics[0].lower() if isinstance(topics[0], str) else "0x" + bytes(topics[0]).hex())
        if ev is None:
            return None
        indexed = [i for i in ev["inputs"] if i.get("indexed")]
        plain_in = [i for i in ev["inputs"] if not i.get("indexed")]
        args: dict[str, Any] = {}
        for p, t in zip(indexed, topics[1:], strict=False):
            (v,) = eth_abi.decode([p["type"]], _hex(t))
            args[p["name"]] = _convert(p, v)
        if plain_in:
            values = eth_abi.decode([i["type"] for i in plain_in], _hex(log.get("data") or "0x"))
            for p, v in zip(plain_in, values, strict=False):
                args[p["name"]] = _convert(p, v)
        return DecodedLog(
            name=ev["name"], address=to_checksum_address(log["address"]), args=args,
            block_number=int(log["blockNumber"], 16) if isinstance(log.get("blockNumber"), str) else int(log.get("blockNumber") or 0),
            tx_hash=log.get("transactionHash", ""),
            log_index=int(log["logIndex"], 16) if isinstance(log.get("logIndex"), str) else int(log.get("logIndex") or 0),
        )


@dataclass(frozen=True)
class DecodedError:
    name: str
    selector: str
    args: dict


@cache
def _error_table() -> dict[str, dict]:
    table: dict[str, dict] = {}
    items = [i for abi in worker_abi().values() for i in abi]
    for art in ARTIFACT_NAMES.values():
        try:
            items += artifact(art)["abi"]
        except FileNotFoundError:  # pragma: no cover - artifacts are committed
            pass
    for i in items:
        if i["type"] == "error":
            table.setdefault("0x" + function_abi_to_4byte_selector(i).hex(), i)
    return table


def error_selector(name: str) -> str:
    for sel, item in _error_table().items():
        if item["name"] == name:
            return sel
    raise KeyError(name)


def decode_error(data: bytes | str | None) -> DecodedError | None:
    """Decode revert data against every known custom error (plus ``Error(string)``); None when unknown."""
    if not data:
        return None
    raw = _hex(data)
    if len(raw) < 4:
        return None
    sel = "0x" + raw[:4].hex()
    if sel == "0x08c379a0":  # Error(string)
        try:
            (msg,) = eth_abi.decode(["string"], raw[4:])
        except Exception:
            return None
        return DecodedError("Error", sel, {"message": msg})
    if sel == "0x4e487b71":  # Panic(uint256)
        try:
            (code,) = eth_abi.decode(["uint256"], raw[4:])
        except Exception:
            return None
        return DecodedError("Panic", sel, {"code": code})
    item = _error_table().get(sel)
    if item is None:
        return DecodedError("", sel, {})
    try:
        values = eth_abi.decode(get_abi_input_types(item), raw[4:])
    except Exception:
        return DecodedError(item["name"], sel, {})
    return DecodedError(item["name"], sel, dict(zip([p["name"] for p in item["inputs"]], _plain(values, item["inputs"]), strict=False)))
