"""User settings (per profile): validated field by field with errors that name the field and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tray_agent.common.errors import ValidationError

from .networks import DEFAULT_NETWORK, NETWORK_NAMES, validate_network_name
from .store import JsonStore

DEFAULTS: dict[str, Any] = {
    "network": DEFAULT_NETWORK,
    "rpc_override": {},          # network -> URL
    "webhook_url": "",
    "autostart": False,
    "keep_awake": True,
    "offline_alert_minutes": 10,
    "ollama_url": "",            # empty = auto (host Ollama, else managed container)
    "low_gas_alerts": True,
    "release_feed": "",          # JSON release feed for update notices; empty = no update checks
    "manual_vram_bytes": None,   # GPU memory entered by the user when it cannot be detected
    "gpus": [],                  # this worker's GPU group (ids from the hardware check); [] = every GPU
}


def validate_url(value: object, field: str, *, allow_empty: bool = True) -> str:
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{field} must be a URL string", fix="e.g. https://example.org/hook", field=field)
    value = (value or "").strip()
    if not value and allow_empty:
        return ""
    if len(value) > 2048:
        raise ValidationError(f"{field} is too long", fix="use a URL under 2048 characters", field=field)
    p = urlparse(value)
    if p.scheme not in ("http", "https") or not p.netloc or any(c in value for c in " \n\r\t"):
        raise ValidationError(
            f"{field} must be an http:// or https:// URL",
            fix="e.g. https://rpc.example.org or http://127.0.0.1:8545",
            field=field,
        )
    return value


def _bad_net(net: object) -> None:
    raise ValidationError(f"rpc_override names an unknown network {str(net)[:40]!r}",
                          fix=f"use one of {', '.join(NETWORK_NAMES)} as the key", field="rpc_override")


class Settings:
    def __init__(self, path: Path):
        self.store = JsonStore(path, DEFAULTS)

    def all(self) -> dict[str, Any]:
        return self.store.all()

    def __getitem__(self, key: str) -> Any:
        return self.store.get(key)

    def gpu_ids(self) -> tuple[str, ...]:
        """This worker's GPU group (() = every GPU)."""
        return tuple(str(g) for g in (self.store.get("gpus") or []))

    def rpc_for(self, network: str) -> str:
        return (self.store.get("rpc_override") or {}).get(network, "")

    def validate(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Check every field; nothing is written unless all of them are valid."""
        out: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "network":
                out[key] = validate_network_name(value)
            elif key == "rpc_override":
                if not isinstance(value, dict):
                    raise ValidationError("rpc_override must map a network to a URL", fix='e.g. {"testnet": "https://..."}', field=key)
                current = dict(self.store.get("rpc_override") or {})
                for net, url in value.items():
                    if net not in NETWORK_NAMES:
                        _bad_net(net)
                    current[net] = validate_url(url, "rpc_override")
                out[key] = {k: v for k, v in current.items() if v}
            elif key == "manual_vram_bytes":
                if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**50):
                    raise ValidationError("manual_vram_bytes must be a positive number of bytes or null",
                                          fix="e.g. 12884901888 for 12 GiB", field=key)
                out[key] = value
            elif key == "gpus":
                from .gpu_groups import parse_gpu_ids

                out[key] = list(parse_gpu_ids(value))
            elif key in ("webhook_url", "ollama_url", "release_feed"):
                out[key] = validate_url(value, key)
            elif key in ("autostart", "keep_awake", "low_gas_alerts"):
                if not isinstance(value, bool):
                    raise ValidationError(f"{key} must be true or false", fix="send a JSON boolean", field=key)
                out[key] = value
            elif key == "offline_alert_minutes":
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1440:
                    raise ValidationError("offline_alert_minutes must be a whole number from 1 to 1440", fix="e.g. 10", field=key)
                out[key] = value
            else:
                raise ValidationError(f"unknown setting {key!r}", fix=f"use one of: {', '.join(DEFAULTS)}", field=key)
        return out

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        return self.write(self.validate(changes))

    def write(self, valid: dict[str, Any]) -> dict[str, Any]:
        """Store changes that ``validate`` returned (no second check)."""
        return self.store.update(**valid)
