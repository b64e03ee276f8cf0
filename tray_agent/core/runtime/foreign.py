"""Other worker containers on this Docker engine: one machine runs one worker per profile, whatever the network.

* ours, stale: this profile's container under another name (another network, or an older naming) — removed, so
  two workers never run side by side and never clash on the metrics port;
* foreign: a worker the official toolkit or another app started (name or image ``lightchain-worker``, or a
  ``CHAIN_ID`` and keystore env) — shown, never run beside; the user stops it or adopts its keys.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from .worker_container import LABEL_MANAGED

log = logging.getLogger(__name__)
TOOLKIT_NAME = "lightchain-worker"


@dataclass(frozen=True)
class OtherWorker:
    name: str
    image: str
    chain_id: str
    mounts: tuple[str, ...]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mounts"] = list(self.mounts)
        return d


def _env(attrs: dict) -> dict[str, str]:
    out = {}
    for item in (attrs.get("Config") or {}).get("Env") or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def looks_like_worker(name: str, image: str, env: dict[str, str]) -> bool:
    return TOOLKIT_NAME in name or TOOLKIT_NAME in image or ("CHAIN_ID" in env and "KEYSTORE_PATH" in env)


def scan(client, own_name: str, profile: str) -> tuple[list[OtherWorker], list]:
    """(foreign running workers, this profile's stale containers) on the engine ``client`` talks to."""
    foreign: list[OtherWorker] = []
    stale = []
    for c in client.containers.list(all=True):
        attrs = c.attrs or {}
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        name = c.name
        if name == own_name:
            continue
        if labels.get(LABEL_MANAGED) == "1":
            if labels.get("lcai.profile") == profile and labels.get("lcai.role", "worker") == "worker":
                stale.append(c)
            continue  # another profile of this app: its own agent watches it
        if c.status != "running":
            continue
        image = (attrs.get("Config") or {}).get("Image") or ""
        env = _env(attrs)
        if looks_like_worker(name, image, env):
            mounts = tuple(m.get("Source", "") for m in attrs.get("Mounts") or [])
            foreign.append(OtherWorker(name, image, env.get("CHAIN_ID", ""), mounts))
    return foreign, stale


def remove_stale(stale: list, stop_timeout: int = 300) -> list[str]:
    """Stop (with the worker's full grace, so running jobs finish) and remove this profile's other containers."""
    removed = []
    for c in stale:
        try:
            if c.status == "running":
                c.stop(timeout=stop_timeout)
            c.remove(force=True)
            removed.append(c.name)
            log.info("removed this profile's other worker container %s", c.name)
        except Exception as e:  # gone already, or Docker refused: the next check tries again
            log.warning("could not remove container %s: %s", c.name, e)
    return removed
