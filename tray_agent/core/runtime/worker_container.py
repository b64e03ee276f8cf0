"""The worker container exactly as the official toolkit expects it (toolkit.md §2–3), created with docker-py.

Password exposure: the official image reads the keystore password only from ``WORKER_KEYSTORE_PASSWORD`` (no file
variant), so it is passed as a container environment variable — never on a command line, never in an env file on
disk, never in logs or labels. It therefore stays visible to anyone who can run ``docker inspect`` on the container
(and in ``/proc/<pid>/environ`` of the worker to root). Docker access is root-equivalent on Linux, and the keystore
and ECDH files it protects sit in the same mounted directory, so this adds no new reader. The config-hash label
uses an HMAC keyed by the password, not the password.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from docker.types import DeviceRequest

from tray_agent.common.paths import Paths
from tray_agent.common.redact import register_secret

from ..networks import Network
from . import images

log = logging.getLogger(__name__)

KEY_DIR_IN = "/etc/lightchain/worker"
STATE_DIR_IN = "/var/lib/lightchain-worker"
METRICS_PORT = 9101
STOP_TIMEOUT = 300
LABEL_MANAGED = "lcai.managed"
LABEL_HASH = "lcai.config-hash"
LABEL_ROLE = "lcai.role"
LABEL_GPUS = "lcai.gpus"  # the worker's GPU group (device ids), also on a devnet worker that gets no device request


def state_dir(paths: Paths, network: str, address: str | None = None) -> Path:
    """Host directory for session keys, sortition cursors and release state: one per (network, worker address)
    (toolkit.md §5.7) when the address is known; the older per-network directory otherwise."""
    if address:
        return paths.worker_state_dir(network, address)
    return legacy_state_dir(paths, network)


def legacy_state_dir(paths: Paths, network: str) -> Path:
    """The per-network state directory of earlier versions (and the devnet's sim-control file)."""
    return paths.network_dir(network) / "state"


STATE_FILES = ("release_state.json", "release_state.json.lock", "session-keys.enc", "sortition-state")


def adopt_legacy_state(legacy: Path, dest: Path, address: str) -> bool:
    """Move the per-network state of earlier versions into ``dest`` when it belongs to ``address``.

    The release store names its worker (§5.5); state of another worker stays where it is (and is never mounted
    for this one). Returns True when something moved."""
    rs = legacy / "release_state.json"
    if dest.exists() or not rs.exists():
        return False
    try:
        owner = str(json.loads(rs.read_text() or "{}").get("worker_address", ""))
    except ValueError:
        return False
    if owner.lower() != address.lower():
        return False
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o700)
    for name in STATE_FILES:
        if (legacy / name).exists():
            os.replace(legacy / name, dest / name)
    log.info("moved the worker state of %s into its own directory %s", address, dest)
    return True


def default_host_networking(platform: str | None = None) -> bool:
    """Linux: host networking (host Ollama on 127.0.0.1 is reachable, metrics stay on loopback)."""
    return (platform or sys.platform).startswith("linux")


def nvidia_runtime(client: docker.DockerClient) -> bool | None:
    """NVIDIA container runtime registered with the engine; None when the engine did not answer."""
    try:
        return "nvidia" in (client.info().get("Runtimes") or {})
    except docker.errors.DockerException:
        return None


def gpu_request(gpu_ids: tuple[str, ...] | list[str] = ()) -> DeviceRequest:
    """Docker's GPU device request: the listed device ids only, or every GPU when none is listed."""
    if gpu_ids:
        return DeviceRequest(device_ids=list(gpu_ids), capabilities=[["gpu"]])
    return DeviceRequest(count=-1, capabilities=[["gpu"]])


@dataclass(frozen=True)
class WorkerSpec:
    """Everything that defines the wanted worker container. ``password`` never appears in repr."""

    network: Network
    profile: str
    name: str
    image: str
    models: tuple[str, ...]
    key_dir: Path
    state_dir: Path
    password: str = field(repr=False)
    ollama_url: str = "http://127.0.0.1:11434"
    metrics_port: int = METRICS_PORT
    host_networking: bool = True
    gpu: bool = False
    stop_timeout: int = STOP_TIMEOUT
    restart_policy: str = "unless-stopped"
    user: str | None = None
    extra_env: tuple[tuple[str, str], ...] = ()
    extra_mounts: tuple[str, ...] = ()  # read-only host paths mounted at the same path (sim image)
    address: str = ""  # the worker address whose state directory this spec mounts ("" = per-network, older)
    legacy_state_dir: Path | None = None
    gpu_ids: tuple[str, ...] = ()  # this worker's GPU group (device ids); () = every GPU

    @classmethod
    def build(cls, paths: Paths, network: Network, models: list[str] | tuple[str, ...], password: str, *,
              ollama_url: str | None = None, metrics_port: int = METRICS_PORT, host_networking: bool | None = None,
              gpu: bool = False, image: str | None = None, extra_env: dict[str, str] | None = None,
              extra_mounts: list[str] | tuple[str, ...] = (), address: str | None = None,
              gpu_ids: tuple[str, ...] = ()) -> WorkerSpec:
        """The spec for ``network`` of ``paths.profile``. Devnet: host networking and the sim image.

        ``address``: the active worker key's address; its own state directory is mounted (toolkit.md §5.7), so a
        key switch never opens another worker's release store (fatal ``release store identity mismatch``)."""
        hostnet = True if network.simulated else (default_host_networking() if host_networking is None
                                                   else host_networking)
        if ollama_url is None:
            ollama_url = "http://127.0.0.1:11434" if hostnet else "http://host.docker.internal:11434"
        register_secret(password)  # scrubbed verbatim from every log line and error text
        env_extra = dict(extra_env or {})
        mounts = list(extra_mounts)
        if address and network.simulated:  # the devnet's fault switch stays per network (sim_worker.py)
            control = legacy_state_dir(paths, network.name)
            env_extra.setdefault("SIM_CONTROL_FILE", str(control / "sim-control"))
            mounts.append(str(control))
        user = f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") and os.name == "posix" else None
        return cls(
            network=network, profile=paths.profile, name=paths.container_name(network.name),
            image=image or (images.SIM_IMAGE if network.simulated and not network.image else network.image),
            models=tuple(models), key_dir=paths.key_dir(network.name),
            state_dir=state_dir(paths, network.name, address), password=password, ollama_url=ollama_url,
            metrics_port=metrics_port, host_networking=hostnet, gpu=gpu, user=user,
            extra_env=tuple(sorted(env_extra.items())), extra_mounts=tuple(mounts),
            address=address or "", legacy_state_dir=legacy_state_dir(paths, network.name) if address else None,
            gpu_ids=tuple(gpu_ids),
        )

    # --- derived -----------------------------------------------------------------------------------
    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def expects_gateway(self) -> bool:
        return bool(self.network.gateway_url)

    def env(self) -> dict[str, str]:
        """Environment per the network's protocol era (toolkit.md §3.1, §3.4)."""
        n = self.network
        env = {
            "RPC_URL": n.rpc_url,
            "CHAIN_ID": str(n.chain_id),
            "WORKER_REGISTRY_ADDRESS": n.worker_registry,
            "AI_CONFIG_ADDRESS": n.ai_config,
            "JOB_REGISTRY_ADDRESS": n.job_registry,
            "SORTITION_ENABLED": "true" if n.sortition_enabled else "false",
            "WORKER_KEYSTORE_PATH": f"{KEY_DIR_IN}/keystore.json",
            "WORKER_KEYSTORE_PASSWORD": self.password,
            "ENCRYPTION_KEYSTORE_PATH": f"{KEY_DIR_IN}/encryption.key",
            "SESSION_KEY_FILE": f"{STATE_DIR_IN}/session-keys.enc",
            "SORTITION_STATE_DIR": f"{STATE_DIR_IN}/sortition-state",
            "RELEASE_STATE_PATH": f"{STATE_DIR_IN}/release_state.json",
            "SUPPORTED_MODELS": ",".join(self.models),
            "OLLAMA_URL": self.ollama_url,
            "OLLAMA_KEEP_ALIVE": "-1",
            "SHUTDOWN_TIMEOUT": "240s",
            "LOG_FORMAT": "json",
        }
        if n.beacon_url:
            env["BEACON_API_URL"] = n.beacon_url
        if n.sortition_enabled and n.session_manager:
            env["SESSION_MANAGER_ADDRESS"] = n.session_manager
        if n.gateway_url:
            env["WORKER_GATEWAY_URL"] = n.gateway_url
        if self.host_networking:
            env["WORKER_METRICS_ADDR"] = f"127.0.0.1:{self.metrics_port}"
        else:
            env["WORKER_METRICS_ADDR"] = f"0.0.0.0:{METRICS_PORT}"
            env["WORKER_METRICS_ALLOW_PUBLIC"] = "true"  # published on the host's loopback only
        env.update(dict(self.extra_env))
        return {k: v for k, v in env.items() if v != ""}

    def config_hash(self) -> str:
        """Digest of everything that requires a new container when it changes (password via HMAC only)."""
        public = {k: v for k, v in self.env().items() if k != "WORKER_KEYSTORE_PASSWORD"}
        pw_tag = hmac.new(self.password.encode(), b"lcai-config-hash", hashlib.sha256).hexdigest()[:16]
        doc = {"env": public, "pw": pw_tag, "image": self.image, "host": self.host_networking,
               "gpu": self.gpu, "port": self.metrics_port, "restart": self.restart_policy, "user": self.user,
               "key_dir": str(self.key_dir), "state_dir": str(self.state_dir), "mounts": list(self.extra_mounts)}
        if self.gpu_ids:  # only when pinned: an unpinned worker keeps the hash (and container) it had
            doc["gpu_ids"] = list(self.gpu_ids)
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:20]

    def labels(self) -> dict[str, str]:
        out = {LABEL_MANAGED: "1", LABEL_ROLE: "worker", "lcai.profile": self.profile,
               "lcai.network": self.network.name, LABEL_HASH: self.config_hash()}
        if self.gpu_ids:
            out[LABEL_GPUS] = ",".join(self.gpu_ids)
        return out

    def create_kwargs(self) -> dict:
        """Arguments for ``client.containers.create``."""
        volumes = {str(self.key_dir): {"bind": KEY_DIR_IN, "mode": "rw"},
                   str(self.state_dir): {"bind": STATE_DIR_IN, "mode": "rw"}}
        for p in self.extra_mounts:
            volumes[p] = {"bind": p, "mode": "ro"}
        kw: dict = {
            "image": self.image, "name": self.name, "detach": True, "environment": self.env(),
            "labels": self.labels(), "volumes": volumes, "stop_signal": "SIGTERM",
            "restart_policy": {"Name": self.restart_policy}, "log_config": {"type": "json-file", "config": {
                "max-size": "10m", "max-file": "3"}},
        }
        # docker-py's create() has no stop_timeout argument: pass the API field through the low-level config
        kw["stop_timeout"] = self.stop_timeout
        if self.user:
            kw["user"] = self.user
        if self.host_networking:
            kw["network_mode"] = "host"
        else:
            kw["extra_hosts"] = {"host.docker.internal": "host-gateway"}
            kw["ports"] = {f"{METRICS_PORT}/tcp": ("127.0.0.1", self.metrics_port)}
        if self.gpu:
            kw["device_requests"] = [gpu_request(self.gpu_ids)]
        return kw

    def prepare_dirs(self) -> None:
        if self.address and self.legacy_state_dir is not None:
            adopt_legacy_state(self.legacy_state_dir, self.state_dir, self.address)
        for d in (self.state_dir, self.state_dir / "sortition-state"):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o700)
        for p in self.extra_mounts:  # a missing bind source would be created by dockerd, owned by root
            if not Path(p).exists():
                Path(p).mkdir(parents=True)


# --- operations ----------------------------------------------------------------------------------------
def find(client: docker.DockerClient, name: str):
    """The container called ``name`` or None."""
    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


def running_hash(container) -> str:
    return ((container.attrs.get("Config") or {}).get("Labels") or {}).get(LABEL_HASH, "")


def create(client: docker.DockerClient, spec: WorkerSpec):
    """Create (not start) the container for ``spec``; the sim image gets its read-only mounts."""
    spec.prepare_dirs()
    kw = spec.create_kwargs()
    stop_timeout = kw.pop("stop_timeout")
    for p in images.sim_image_mounts(client, spec.image):  # [] for real worker images
        kw["volumes"].setdefault(p, {"bind": p, "mode": "ro"})
    # containers.create() drops unknown keys; StopTimeout is set through the low-level API instead
    image = kw.pop("image")
    host_cfg_keys = ("volumes", "restart_policy", "network_mode", "extra_hosts", "ports", "device_requests",
                     "log_config")
    host_kw = {k: kw.pop(k) for k in host_cfg_keys if k in kw}
    binds = host_kw.pop("volumes")
    ports = host_kw.pop("ports", None)
    host_config = client.api.create_host_config(
        init=True,  # tini as PID 1: signals reach the worker even before it installs handlers
        binds=binds, port_bindings={k.split("/")[0]: v for k, v in ports.items()} if ports else None, **host_kw)
    resp = client.api.create_container(
        image, name=kw["name"], detach=True, environment=kw["environment"], labels=kw["labels"],
        host_config=host_config, stop_signal=kw["stop_signal"], stop_timeout=stop_timeout, user=kw.get("user"),
        ports=list(ports) if ports else None, volumes=[b["bind"] for b in binds.values()],
    )
    return client.containers.get(resp["Id"])


_FIND = object()


def ensure(client: docker.DockerClient, spec: WorkerSpec, *, stop_timeout: int | None = None,
           start: bool = True, current: object = _FIND) -> tuple[object, str]:
    """Make the container match ``spec``. Returns (container, action); action ∈ created, recreated, started,
    unchanged. A config drift (hash label differs) stops the old container with the full grace and replaces it.
    ``current``: the container as the caller just inspected it (or None: none exists), saving another inspect."""
    c = find(client, spec.name) if current is _FIND else current
    action = "unchanged"
    if c is not None and (running_hash(c) != spec.config_hash() or _image_changed(client, c, spec.image)):
        log.info("worker container %s config or image changed: recreating", spec.name)
        remove(c, spec.stop_timeout if stop_timeout is None else stop_timeout)
        c, action = None, "recreated"
    if c is None:
        c = create(client, spec)
        action = "created" if action == "unchanged" else action
    if start:
        if action != "unchanged":
            c.reload()  # just created: its state (a found container was inspected a moment ago)
        if c.status not in ("running", "restarting"):
            c.start()
            action = "started" if action == "unchanged" else action
    return c, action


def _image_changed(client: docker.DockerClient, container, ref: str) -> bool:
    if ref == container.attrs.get("Image"):
        return False  # the spec names the image by the id the container runs (the supervisor resolves it)
    try:
        return client.images.get(ref).id != container.attrs.get("Image")
    except docker.errors.ImageNotFound:
        return False


def remove(container, stop_timeout: int = STOP_TIMEOUT) -> None:
    try:
        container.reload()
        if container.status in ("running", "restarting", "paused"):
            container.stop(timeout=stop_timeout)
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
