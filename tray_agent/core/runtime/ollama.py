"""Ollama for the worker (toolkit.md §8, reference-app §4.1), through the small stdlib client of :mod:`.ollama_http`.

Host Ollama first (default 127.0.0.1:11434; ``ollama serve`` is started when installed but not answering), else a
managed ``ollama/ollama`` container (GPU when an NVIDIA runtime exists, a named volume, bound to loopback). Models
are pulled with streamed progress and verified under their **exact** name before anything registers or
advertises them; they are pinned with ``keep_alive=-1`` and a warm-up request, verified through ``/api/ps``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from tray_agent.common.errors import AgentError

from .ollama_http import OllamaHttp
from .toolpath import find_tool, tool_env

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:11434"
CONTAINER_NAME = "lcai-ollama"
VOLUME = "lcai-ollama-models"
IMAGE = "ollama/ollama:latest"
PIN_KEY = "ollama"  # key of the managed container's image in images.ImagePins


class OllamaError(AgentError):
    code = "ollama_error"


@dataclass
class ModelPullProgress:
    model: str
    status: str = ""
    completed: int = 0
    total: int = 0

    @property
    def fraction(self) -> float:
        return min(1.0, self.completed / self.total) if self.total else 0.0


def normalize(name: str) -> str:
    """Ollama's canonical tag: a bare name means ``name:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def pull_alias(name: str) -> str | None:
    """Ollama tag to pull for a list name that is not a tag: a trailing ``-<N>b`` becomes ``:<N>b``."""
    if ":" in name:
        return None
    m = re.match(r"^(.+)-(\d+(?:\.\d+)?b)$", name, re.I)
    return f"{m.group(1)}:{m.group(2)}" if m else None


def check_model_invariant(onchain: Iterable[str], supported: Iterable[str], ollama_tags: Iterable[str]) -> list[str]:
    """Problems with on-chain ⊆ SUPPORTED_MODELS ⊆ Ollama tags (empty list = invariant holds)."""
    on, sup = list(dict.fromkeys(onchain)), list(dict.fromkeys(supported))
    tags = {normalize(t) for t in ollama_tags}
    out = [f"{m} is registered on-chain but not in SUPPORTED_MODELS: claimed jobs for it would fail and time out"
           for m in on if m not in sup]
    out += [f"{m} is in SUPPORTED_MODELS but not present in Ollama under that exact name" for m in sup
            if normalize(m) not in tags]
    return out


class OllamaManager:
    """Host or managed-container Ollama; ``mode`` becomes 'host', 'container' or '' (none running)."""

    def __init__(self, url: str = DEFAULT_URL, *, allow_host_start: bool = True, docker_client=None,
                 container_name: str = CONTAINER_NAME, volume: str = VOLUME, image: str = IMAGE,
                 timeout: float = 30.0, serve_cmd: tuple[str, ...] = ("ollama", "serve"),
                 serve_log: Path | None = None, pins=None, gpu_ids: tuple[str, ...] = ()):
        self.url = url.rstrip("/")
        self.allow_host_start = allow_host_start
        self.docker_client = docker_client  # a DockerClient or a callable returning one (managed container)
        self.container_name = container_name
        self.volume = volume
        self.image = image
        self.timeout = timeout
        self.serve_cmd = serve_cmd
        self.serve_log = serve_log  # output of a host `ollama serve` we start (lesson 10), e.g. <logs>/ollama-serve.log
        self.pins = pins  # images.ImagePins: the managed container keeps the image first pulled (key "ollama")
        self.gpu_ids = tuple(gpu_ids)  # a pinned worker's own Ollama sees only these GPUs
        self.mode = ""
        self._serve_proc: subprocess.Popen | None = None

    def client(self, timeout: float | None = None) -> OllamaHttp:
        """A client of this Ollama; ``timeout`` None = the manager's default (pulls pass 0: no limit)."""
        return OllamaHttp(self.url, None if timeout == 0 else (timeout or self.timeout))

    # --- running ---------------------------------------------------------------------------------------
    def reachable(self, timeout: float = 2.0) -> bool:
        try:
            self.client(timeout).list()
            return True
        except Exception:
            return False

    def ensure_running(self, start: bool = True, wait: float = 20.0) -> bool:
        """True when Ollama answers; otherwise start host ``ollama serve`` or the managed container."""
        if self.reachable():
            self.mode = self.mode or "host"
            return True
        if not start:
            return False
        if self.allow_host_start and self._serve_exe():
            self._start_host()
            self.mode = "host"
        elif self.docker_client is not None:
            self._ensure_container()
            self.mode = "container"
        else:
            self.mode = ""
            return False
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.reachable(1.0):
                return True
            time.sleep(0.3)
        return False

    def _serve_exe(self) -> str | None:
        """The ollama binary: an explicit path, else a PATH lookup that includes Homebrew and Ollama.app (macOS)."""
        exe = self.serve_cmd[0]
        if os.path.isfile(exe):
            return exe
        return shutil.which(exe) or find_tool(exe)

    def _start_host(self) -> None:
        if self._serve_proc is not None and self._serve_proc.poll() is None:
            return
        u = urlparse(self.url)
        from ..gpu_groups import visible_devices_env

        env = dict(tool_env(), OLLAMA_HOST=f"{u.hostname}:{u.port or 11434}", OLLAMA_KEEP_ALIVE="-1",
                   **visible_devices_env(self.gpu_ids))
        out = None
        if self.serve_log is not None:  # keep `ollama serve` output for diagnosis (lesson 10)
            self.serve_log.parent.mkdir(parents=True, exist_ok=True)
            out = open(self.serve_log, "ab")  # noqa: SIM115 - the child holds its own copy
            out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {' '.join(self.serve_cmd)}\n".encode())
            out.flush()
        sink = out if out is not None else subprocess.DEVNULL
        kw: dict = {"stdin": subprocess.DEVNULL, "stdout": sink, "stderr": subprocess.STDOUT if out else sink,
                    "env": env}
        if sys.platform.startswith("win"):
            kw["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        else:
            kw["start_new_session"] = True  # outlives the agent like a service would
        argv = [self._serve_exe() or self.serve_cmd[0], *self.serve_cmd[1:]]
        log.info("starting host Ollama: %s", " ".join(argv))
        try:
            self._serve_proc = subprocess.Popen(argv, **kw)  # noqa: S603 - fixed argv
        finally:
            if out is not None:
                out.close()

    def stop_started(self, timeout: float = 10.0) -> None:
        """Stop the host ``ollama serve`` this manager started (nothing else)."""
        p, self._serve_proc = self._serve_proc, None
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)

    def _docker(self):
        return self.docker_client() if callable(self.docker_client) else self.docker_client

    def container_kwargs(self, gpu: bool) -> dict:
        """docker-py ``containers.run`` arguments of the managed Ollama container (loopback only); a pinned worker's
        container gets a device request for its GPU ids only."""
        from .worker_container import gpu_request

        port = urlparse(self.url).port or 11434
        kw = {
            "name": self.container_name, "detach": True, "restart_policy": {"Name": "unless-stopped"},
            "volumes": {self.volume: {"bind": "/root/.ollama", "mode": "rw"}},
            "ports": {"11434/tcp": ("127.0.0.1", port)}, "environment": {"OLLAMA_KEEP_ALIVE": "-1"},
            "labels": {"lcai.managed": "1", "lcai.role": "ollama"},
        }
        if self.gpu_ids:
            kw["labels"]["lcai.gpus"] = ",".join(self.gpu_ids)
        if gpu:
            kw["device_requests"] = [gpu_request(self.gpu_ids)]
        return kw

    def _ensure_container(self) -> None:
        import docker.errors

        from .worker_container import nvidia_runtime

        client = self._docker()
        try:
            c = client.containers.get(self.container_name)
            if c.status != "running":
                c.start()
            return
        except docker.errors.NotFound:
            pass
        client.containers.run(self._pinned_image(client), **self.container_kwargs(bool(nvidia_runtime(client))))

    def _pinned_image(self, client) -> str:
        """The image to create the managed container from: the pinned one (a newer local tag never moves it)."""
        from . import images

        if self.pins is None:
            images.ensure_image(client, self.image)
            return self.image
        pin = self.pins.get(PIN_KEY)
        if pin is not None and pin.ref == self.image and images.image_by_id(client, pin.id) is not None:
            return pin.id
        info = images.ensure_image(client, self.image)
        self.pins.set(PIN_KEY, info)
        return info.id

    def update_image(self, on_progress=None):
        """Pull the Ollama image, move the pin and recreate the managed container on it (container mode only;
        call while no job runs, e.g. inside ``Supervisor.hold``). Returns ``images.ImageUpdate`` old → new."""
        import docker.errors

        from . import images

        client = self._docker()
        old = self.pins.get(PIN_KEY) if self.pins is not None else None
        info = images.pull_image(client, self.image, on_progress)
        if old is not None and old.id == info.id:
            return images.ImageUpdate(self.image, old.digest, old.digest)
        if self.pins is not None:
            self.pins.set(PIN_KEY, info)
        try:
            c = client.containers.get(self.container_name)
        except docker.errors.NotFound:
            c = None
        if c is not None:
            c.stop(timeout=10)
            c.remove(force=True)
            self._ensure_container()
        return images.ImageUpdate(self.image, old.digest if old else "", info.digest)

    def url_for_worker(self, host_networking: bool) -> str:
        """OLLAMA_URL as seen from the worker container."""
        if host_networking:
            return self.url
        u = urlparse(self.url)
        return f"{u.scheme}://host.docker.internal:{u.port or 11434}"

    # --- models ------------------------------------------------------------------------------------------
    def tags(self) -> set[str]:
        try:
            return {m for m in self.client(10).list() if m}
        except Exception as e:
            raise OllamaError(f"cannot list Ollama models at {self.url}: {e}",
                              fix="check that Ollama is running") from None

    def missing(self, models: Iterable[str]) -> list[str]:
        tags = {normalize(t) for t in self.tags()}
        return [m for m in models if normalize(m) not in tags]

    def pull(self, model: str, on_progress: Callable[[ModelPullProgress], None] | None = None) -> None:
        """Pull ``model`` (or its alias tag then copy to the exact name); verify it is present afterwards."""
        try:
            self._pull_one(model, on_progress)
        except OllamaError:
            alias = pull_alias(model)
            if alias is None:
                raise
            self._pull_one(alias, on_progress, report_as=model)
            try:
                self.client().copy(alias, model)
            except Exception as e:
                raise OllamaError(f"could not name {alias} as {model}: {e}", fix="retry the model download") from None
        if self.missing([model]):
            raise OllamaError(f"{model} is not present in Ollama after the download",
                              fix=f"run 'ollama pull {model}' and check the exact name")

    def _pull_one(self, name: str, on_progress, report_as: str | None = None) -> None:
        prog = ModelPullProgress(report_as or name)
        try:
            for ev in self.client(0).pull(name):
                prog.status = ev.get("status") or prog.status
                if ev.get("total"):
                    prog.total, prog.completed = int(ev["total"]), int(ev.get("completed") or 0)
                if on_progress:
                    on_progress(prog)
        except Exception as e:
            raise OllamaError(f"downloading {name} failed: {getattr(e, 'error', e)}",
                              fix="check the model name and your connection, then retry") from None

    def ensure_models(self, models: Iterable[str],
                      on_progress: Callable[[ModelPullProgress], None] | None = None) -> None:
        """Pull what is missing; raise listing any model still absent under its exact name."""
        for m in self.missing(models):
            self.pull(m, on_progress)
        still = self.missing(models)
        if still:
            raise OllamaError(f"not in Ollama: {', '.join(still)}", fix="download them before registering")

    def verify_present(self, models: Iterable[str]) -> None:
        """Raise unless every model is in Ollama under its exact name (call before registering/advertising)."""
        miss = self.missing(models)
        if miss:
            raise OllamaError(f"not in Ollama under the exact name: {', '.join(miss)}",
                              fix=f"download them first (e.g. 'ollama pull {miss[0]}')")

    # --- pinning -----------------------------------------------------------------------------------------
    def loaded(self) -> set[str]:
        """Names resident in memory (/api/ps), both as listed and without ':latest'."""
        out: set[str] = set()
        for m in self.client(5).ps():
            if m:
                out |= {m, m.removesuffix(":latest")}
        return out

    def pin(self, models: Iterable[str], timeout: float = 180.0) -> list[str]:
        """Warm each model with keep_alive -1 and verify via /api/ps; returns the models not resident."""
        c = self.client(timeout)
        models = list(models)
        for m in models:
            try:
                c.generate(m, "ok", keep_alive=-1, options={"num_predict": 1})
            except Exception as e:
                log.warning("warm-up of %s failed: %s", m, e)
        resident = self.loaded()
        return [m for m in models if m not in resident and normalize(m) not in resident]

    def unload(self, models: Iterable[str] | None = None) -> None:
        """Free memory: keep_alive 0 for the given models (default: all resident ones)."""
        c = self.client(15)
        names = list(models) if models is not None else sorted({m for m in c.ps() if m})
        for m in names:
            with contextlib.suppress(Exception):
                c.generate(m, "", keep_alive=0)
