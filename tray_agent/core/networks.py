"""Network profiles: shipped constants plus a user override file that can change any field."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from tray_agent.common.errors import ConfigError, ValidationError

DEFAULT_NETWORK = "testnet"


@dataclass(frozen=True)
class Network:
    """Constants of one network. Wei amounts are ints; empty strings mean 'unknown / not used'."""

    name: str
    label: str
    chain_id: int
    rpc_url: str
    archive_rpc_url: str
    beacon_url: str
    gateway_url: str
    subgraph_url: str
    explorer_url: str
    faucet_url: str
    worker_registry: str
    ai_config: str
    job_registry: str
    session_manager: str
    sortition_enabled: bool
    image: str
    min_stake_fallback_wei: int
    gas_buffer_wei: int
    low_gas_wei: int
    default_model: str
    block_time_s: int
    scrypt_n: int
    simulated: bool
    assumed: tuple[str, ...] = ()  # fields taken from the old desktop app or inferred, not confirmed (networks.md)

    @property
    def is_devnet(self) -> bool:
        return self.name == "devnet"

    def replace(self, **changes: Any) -> Network:
        return dataclasses.replace(self, **changes)

    def to_public_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("min_stake_fallback_wei", "gas_buffer_wei", "low_gas_wei"):
            d[k] = str(d[k])
        d["assumed"] = list(self.assumed)
        return d


_WEI_FIELDS = {"min_stake_fallback_wei", "gas_buffer_wei", "low_gas_wei"}
_TYPES: dict[str, type] = {f.name: f.type for f in fields(Network)}  # type: ignore[misc]


def validate_network_name(name: str) -> str:
    if name not in NETWORK_NAMES:
        raise ValidationError(
            f"unknown network {name!r}",
            fix=f"choose one of: {', '.join(NETWORK_NAMES)}",
            field="network",
        )
    return name


def _coerce(source: str, net: str, key: str, value: Any) -> Any:
    """Check one field's type; wei fields accept decimal strings or ints."""
    expected = _TYPES.get(key)
    where = f"{source}: networks.{net}.{key}"
    if expected is None:
        raise ConfigError(
            f"{where} is not a known field",
            fix=f"remove it or use one of: {', '.join(sorted(k for k in _TYPES if k != 'name'))}",
            field=key,
        )
    if key == "assumed":
        if not isinstance(value, list) or not all(isinstance(v, str) and v in _TYPES for v in value):
            raise ConfigError(f"{where} must be a list of field names", fix='e.g. ["image", "gateway_url"]', field=key)
        return tuple(value)
    if key in _WEI_FIELDS:
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
            raise ConfigError(f"{where} must be a whole number of wei (decimal string)", fix='e.g. "50000000000000000000"', field=key)
        return int(value)
    if expected in ("int", int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {type(value).__name__}", fix="write a number without quotes", field=key)
        return value
    if expected in ("bool", bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {type(value).__name__}", fix="write true or false without quotes", field=key)
        return value
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {type(value).__name__}", fix="put the value in double quotes", field=key)
    return value


def _shipped() -> dict:
    text = resources.files("tray_agent.core").joinpath("data/networks.json").read_text()
    return json.loads(text)


NETWORK_NAMES: tuple[str, ...] = tuple(k for k in _shipped() if not k.startswith("_"))  # the shipped file decides


def load_networks(override_file: Path | None = None) -> dict[str, Network]:
    """All networks, with ``override_file`` (if it exists) applied field by field."""
    raw = _shipped()
    overrides: dict = {}
    if override_file is not None and Path(override_file).exists():
        try:
            overrides = json.loads(Path(override_file).read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(
                f"{override_file} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})",
                fix="fix the syntax or delete the file to use the shipped defaults",
            ) from e
        if not isinstance(overrides, dict):
            raise ConfigError(f"{override_file} must hold a JSON object keyed by network name", fix='e.g. {"testnet": {"rpc_url": "..."}}')
    out: dict[str, Network] = {}
    for name in NETWORK_NAMES:
        values = {k: _coerce("shipped networks.json", name, k, v) for k, v in raw[name].items()}
        extra = overrides.get(name, {})
        if not isinstance(extra, dict):
            raise ConfigError(f"{override_file}: networks.{name} must be an object", fix='e.g. {"rpc_url": "https://..."}')
        for k, v in extra.items():
            values[k] = _coerce(str(override_file), name, k, v)
        out[name] = Network(name=name, **values)
    unknown = set(overrides) - set(NETWORK_NAMES) - {"_comment"}
    if unknown:
        raise ConfigError(
            f"{override_file}: unknown networks: {', '.join(sorted(unknown))}",
            fix=f"use only: {', '.join(NETWORK_NAMES)}",
        )
    return out


def get_network(name: str, override_file: Path | None = None) -> Network:
    return load_networks(override_file)[validate_network_name(name)]


def funding_threshold_wei(min_stake_wei: int, network: Network) -> int:
    """The one definition of 'funded': on-chain minimum stake plus the gas buffer (exact wei)."""
    return int(min_stake_wei) + int(network.gas_buffer_wei)
