"""Network names from the shipped ``core/data/networks.json`` (stdlib json; the full model lives in core.networks)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

NETWORKS_JSON = Path(__file__).resolve().parent.parent / "core" / "data" / "networks.json"


@functools.lru_cache(maxsize=1)
def network_names() -> tuple[str, ...]:
    """The shipped networks in file order (the first is the default for new users)."""
    data = json.loads(NETWORKS_JSON.read_text(encoding="utf-8"))
    return tuple(k for k, v in data.items() if not k.startswith("_") and isinstance(v, dict))


def default_network() -> str:
    return network_names()[0]
