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


# --- draining a foreign worker (toolkit §9.1, §11): its running jobs finish before it is stopped ------------------
def _metrics_addr(attrs: dict) -> str:
    return _env(attrs).get("WORKER_METRICS_ADDR", "127.0.0.1:9101") or ""


def active_jobs(container) -> int | None:
    """``worker_active_jobs`` of another app's worker, or None when unreadable (counts as busy): from the host
    when it shares the host network or publishes the metrics port, else ``wget`` inside it (busybox)."""
    from . import metrics

    attrs = container.attrs or {}
    addr = _metrics_addr(attrs)
    if not addr:
        return None  # metrics disabled: nothing tells us what runs
    host, _, port = addr.rpartition(":")
    urls = []
    if ((attrs.get("HostConfig") or {}).get("NetworkMode") or "") == "host":
        urls.append(f"http://{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{port}")  # noqa: S104 - a bind address read
    for b in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp") or []:
        urls.append(f"http://{'127.0.0.1' if b.get('HostIp') in ('', '0.0.0.0', None) else b['HostIp']}:{b['HostPort']}")  # noqa: S104
    for url in urls:
        _ok, snap, _err = metrics.fetch_metrics(url, 3.0)
        if snap is not None:
            return snap.active_jobs
    try:
        code, out = container.exec_run(["wget", "-qO-", f"http://127.0.0.1:{port}/metrics"], demux=False)
    except Exception:  # no wget, container gone: unreadable
        return None
    if code != 0 or not out:
        return None
    return metrics.parse_metrics(out.decode("utf-8", "replace")).active_jobs


def drain_and_stop(client, names: list[str], timeout: float, progress, cancel=None) -> list[dict]:
    """Stop other apps' workers once each runs no job (bounded by ``timeout``, the longest job deadline; an
    unreadable count is busy), with the worker's full stop grace. Returns what each one had running at its stop."""
    from . import drain

    out = []
    for name in names:
        c = client.containers.get(name)
        res = drain.wait_idle(lambda c=c: active_jobs(c), timeout, what=f"stopping {name}",
                              on_progress=progress, cancel=cancel)
        progress(f"stopping {name}" + ("" if res.idle else f" with {drain.describe(res.busy)} (waited {int(res.waited_s)} s)"),
                 None)
        c.stop(timeout=300)
        log.info("stopped the other worker %s (%s)", name, "idle" if res.idle else drain.describe(res.busy))
        out.append({"name": name, "idle": res.idle, "running_jobs": res.busy})
    return out


def key_paths(attrs: dict) -> list[str]:
    """Host paths that may hold the worker's key files: the host side of WORKER_KEYSTORE_PATH's mount, then
    every mounted folder (official layout ``/etc/lightchain/worker``, legacy ``/data``)."""
    env = _env(attrs)
    mounts = [(m.get("Destination", ""), m.get("Source", "")) for m in attrs.get("Mounts") or [] if m.get("Source")]
    out = []
    ks = env.get("WORKER_KEYSTORE_PATH", "")
    for dest, src in sorted(mounts, key=lambda m: -len(m[0])):
        if ks and (ks == dest or ks.startswith(dest.rstrip("/") + "/")):
            out.append(src + ks[len(dest.rstrip("/")):])
            break
    out += [src for _dest, src in mounts if src not in out]
    return out
