"""Worker images: pull with per-layer byte progress, digest bookkeeping, update checks, and the offline
simulated-worker image used on devnet and in tests.

The sim image is a busybox rootfs imported with ``docker import`` (no registry). Its entrypoint runs the host's
own Python with ``-m tray_agent.devnet.sim_worker``; the interpreter, the venv, the source tree and the shared
libraries are bind-mounted read-only at their host paths (see :func:`sim_mounts`).
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors

from tray_agent.common.atomic import atomic_write
from tray_agent.common.errors import AgentError

log = logging.getLogger(__name__)

SIM_IMAGE = "lcai-worker-sim:devnet"
SIM_LABEL = "lcai.sim-mounts"
SIM_VERSION = "1"


class ImageError(AgentError):
    code = "image_error"


@dataclass(frozen=True)
class ImageInfo:
    ref: str
    id: str
    digest: str  # repo digest (registry images) or image id (local images)


@dataclass
class PullProgress:
    """Bytes per layer while pulling; ``fraction`` in [0, 1] over the layers seen so far."""

    ref: str
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (done, total)
    status: str = ""

    @property
    def done_bytes(self) -> int:
        return sum(d for d, _ in self.layers.values())

    @property
    def total_bytes(self) -> int:
        return sum(t for _, t in self.layers.values())

    @property
    def fraction(self) -> float:
        total = self.total_bytes
        return min(1.0, self.done_bytes / total) if total else 0.0


def split_ref(ref: str) -> tuple[str, str]:
    """``repo[:tag]`` → (repo, tag); a ':' inside a registry host:port is not a tag."""
    if "@" in ref:
        repo, digest = ref.split("@", 1)
        return repo, digest
    head, _, last = ref.rpartition("/")
    if ":" in last:
        name, tag = last.rsplit(":", 1)
        return (f"{head}/{name}" if head else name), tag
    return ref, "latest"


def local_image(client: docker.DockerClient, ref: str) -> ImageInfo | None:
    try:
        img = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    digests = img.attrs.get("RepoDigests") or []
    return ImageInfo(ref, img.id, digests[0].split("@", 1)[1] if digests else img.id)


def pull_image(client: docker.DockerClient, ref: str,
               on_progress: Callable[[PullProgress], None] | None = None) -> ImageInfo:
    """Pull ``ref`` streaming per-layer progress; raises ImageError with the registry's message on failure."""
    repo, tag = split_ref(ref)
    prog = PullProgress(ref)
    try:
        for ev in client.api.pull(repo, tag=tag, stream=True, decode=True):
            if "error" in ev:
                raise ImageError(f"pulling {ref} failed: {ev['error']}",
                                 fix="check the network connection and the image name, then retry")
            lid, detail = ev.get("id"), ev.get("progressDetail") or {}
            prog.status = ev.get("status", prog.status)
            if lid and detail.get("total"):
                prog.layers[lid] = (int(detail.get("current", 0)), int(detail["total"]))
            elif lid and prog.status in ("Pull complete", "Already exists") and lid in prog.layers:
                total = prog.layers[lid][1]
                prog.layers[lid] = (total, total)
            if on_progress:
                on_progress(prog)
    except docker.errors.APIError as e:
        raise ImageError(f"pulling {ref} failed: {e.explanation or e}",
                         fix="check the network connection and the image name, then retry") from None
    except docker.errors.DockerException as e:
        raise ImageError(f"pulling {ref} failed: {e}", fix="check that Docker is running, then retry") from None
    info = local_image(client, ref)
    if info is None:
        raise ImageError(f"{ref} is not present after the pull", fix="retry the download")
    return info


def ensure_image(client: docker.DockerClient, ref: str,
                 on_progress: Callable[[PullProgress], None] | None = None) -> ImageInfo:
    """The local image, pulling it when missing (the sim image is built instead)."""
    info = local_image(client, ref)
    if info is not None:
        return info
    if ref == SIM_IMAGE or ref.startswith("lcai-worker-sim:"):
        build_sim_image(client, ref)
        return local_image(client, ref)  # type: ignore[return-value]
    return pull_image(client, ref, on_progress)


# --- digest bookkeeping ------------------------------------------------------------------------------
class DigestRecord:
    """JSON file ``{ref: {"digest": ..., "at": ...}}`` of the digest each network's container runs."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def load(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def get(self, ref: str) -> str | None:
        return (self.load().get(ref) or {}).get("digest")

    def set(self, ref: str, digest: str) -> None:
        data = self.load()
        data[ref] = {"digest": digest, "at": time.time()}
        atomic_write(self.path, json.dumps(data, indent=1))


@dataclass(frozen=True)
class Pin:
    """The image a network's container runs: the configured ref and the exact image it resolved to."""

    ref: str
    id: str      # local image id: what the container is created from
    digest: str  # repo digest (registry images) or the image id (local images)


class ImagePins:
    """JSON file ``{key: {"ref", "id", "digest", "at"}}``: per network (or "ollama"), the image in use.

    The first image found or pulled is pinned; a newer local ``:latest`` never moves it, only :meth:`set` does
    (the update operation)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> Pin | None:
        d = self._load().get(key)
        try:
            return Pin(d["ref"], d["id"], d.get("digest") or d["id"]) if d else None
        except (KeyError, TypeError):
            return None

    def set(self, key: str, info: ImageInfo) -> Pin:
        data = self._load()
        data[key] = {"ref": info.ref, "id": info.id, "digest": info.digest, "at": time.time()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(self.path, json.dumps(data, indent=1))
        return Pin(info.ref, info.id, info.digest)


@dataclass(frozen=True)
class ImageUpdate:
    """Result of the update operation: the image ref and the digest before → after."""

    ref: str
    old_digest: str
    new_digest: str

    @property
    def digest(self) -> str:
        return self.new_digest

    @property
    def changed(self) -> bool:
        return self.old_digest != self.new_digest


def image_by_id(client: docker.DockerClient, image_id: str, ref: str = "") -> ImageInfo | None:
    """The local image with this id (None when it was removed), reported under ``ref``."""
    try:
        img = client.images.get(image_id)
    except docker.errors.ImageNotFound:
        return None
    digests = img.attrs.get("RepoDigests") or []
    return ImageInfo(ref or image_id, img.id, digests[0].split("@", 1)[1] if digests else img.id)


def newer_digest(client: docker.DockerClient, ref: str, current: str | None) -> str | None:
    """The registry's digest for ``ref`` when it differs from ``current``; None if equal or unknown (offline)."""
    try:
        remote = client.images.get_registry_data(ref).id
    except docker.errors.DockerException as e:
        log.info("cannot check %s for updates: %s", ref, e)
        return None
    return remote if current and remote and remote != current else None


# --- simulated worker image ---------------------------------------------------------------------------
def repo_root() -> Path:
    """Directory that contains the ``tray_agent`` package."""
    return Path(__file__).resolve().parents[3]


def sim_mounts() -> list[str]:
    """Host paths the sim image needs read-only at the same path inside the container."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), repo_root(), Path("/usr")}
    for p in (Path("/lib"), Path("/lib64"), Path("/lib32")):
        if p.exists() and not p.is_symlink():
            paths.add(p)
    for sp in sys.path:  # site-packages outside the prefixes (user site, editable installs)
        q = Path(sp)
        if sp and q.is_dir() and not any(q.is_relative_to(x) for x in paths) and str(q).startswith("/"):
            paths.add(q)
    out = sorted(str(p.resolve()) for p in paths if p.exists())
    # drop paths nested in another mount
    return [p for p in out if not any(p != o and p.startswith(o.rstrip("/") + "/") for o in out)]


def _python_exe() -> str:
    return str(Path(sys.executable))


def _rootfs_tar() -> bytes:
    busybox = shutil.which("busybox") or "/bin/busybox"
    if not Path(busybox).exists():
        raise ImageError("busybox is not installed; it is needed to build the simulated worker image",
                         fix="install busybox-static (apt-get install busybox-static)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode = tarfile.DIRTYPE, mode
            tar.addfile(ti)

        def add_link(name: str, target: str) -> None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            tar.addfile(ti)

        for d in ("bin", "etc", "tmp", "var", "var/lib", "etc/lightchain", "data", "proc", "sys", "dev", "root"):
            add_dir(d, 0o1777 if d == "tmp" else 0o755)
        tar.add(busybox, "bin/busybox")
        for tool in ("sh", "sleep", "cat", "ls", "wget", "echo", "env", "kill", "ps"):
            add_link(f"bin/{tool}", "busybox")
        for p in ("/lib", "/lib64", "/lib32"):  # merged-/usr hosts: replicate the symlinks
            if Path(p).is_symlink():
                add_link(p[1:], os.readlink(p))
        for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", "root:x:0:\n")):
            data = text.encode()
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def build_sim_image(client: docker.DockerClient, ref: str = SIM_IMAGE, force: bool = False) -> str:
    """Build (offline) the simulated worker image; returns its id. Rebuilt when the host layout changed."""
    mounts = sim_mounts()
    label = json.dumps({"v": SIM_VERSION, "python": _python_exe(), "mounts": mounts}, sort_keys=True)
    existing = None if force else local_image(client, ref)
    if existing is not None:
        img = client.images.get(ref)
        if (img.attrs.get("Config") or {}).get("Labels", {}).get(SIM_LABEL) == label:
            return existing.id
    repo, tag = split_ref(ref)
    entry = json.dumps([_python_exe(), "-m", "tray_agent.devnet.sim_worker"])
    changes = [
        f"ENTRYPOINT {entry}",
        f"ENV PYTHONPATH={repo_root()}",
        "ENV PYTHONDONTWRITEBYTECODE=1",
        "ENV PYTHONUNBUFFERED=1",
        f"LABEL {SIM_LABEL}={json.dumps(label)}",
        "LABEL lcai.role=sim-image",
    ]
    try:
        client.api.import_image_from_data(_rootfs_tar(), repository=repo, tag=tag, changes=changes)
    except docker.errors.DockerException as e:
        raise ImageError(f"building the simulated worker image failed: {e}", fix="check that Docker is running") from None
    return client.images.get(ref).id


def sim_image_mounts(client: docker.DockerClient, ref: str) -> list[str]:
    """The read-only mounts recorded in the sim image's label ([] for other images)."""
    try:
        img = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return []
    raw = (img.attrs.get("Config") or {}).get("Labels", {}).get(SIM_LABEL)
    try:
        return list(json.loads(raw)["mounts"]) if raw else []
    except (ValueError, KeyError, TypeError):
        return []
