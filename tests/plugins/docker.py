"""pytest fixtures for tests that need the real (private) dockerd that scripts/test.sh starts.

Import them in a conftest: ``from tests.plugins.docker import docker_client, sim_image, container_cleanup  # noqa``.
Without Docker the tests skip locally and fail under CI=true (``need()``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import need


@pytest.fixture(scope="session")
def docker_client():
    """A pinged DockerClient for DOCKER_HOST (the private dockerd of scripts/test.sh)."""
    import docker

    host = os.environ.get("DOCKER_HOST", "")
    need(bool(host), "a private dockerd (DOCKER_HOST)")
    client = docker.DockerClient(base_url=host, timeout=60)
    try:
        client.ping()
    except Exception:
        need(False, f"a private dockerd answering at {host}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def sim_image(docker_client) -> str:
    """The offline simulated-worker image, built once per session."""
    from tray_agent.core.runtime import images

    images.build_sim_image(docker_client, images.SIM_IMAGE)
    return images.SIM_IMAGE


def remove_by_label(client, label: str) -> int:
    n = 0
    for c in client.containers.list(all=True, filters={"label": label}):
        try:
            c.remove(force=True)
            n += 1
        except Exception:
            pass
    return n


@pytest.fixture
def container_cleanup(docker_client) -> Iterator[Callable[[str], None]]:
    """Register profile names; every container labelled ``lcai.profile=<name>`` is removed at teardown."""
    profiles: list[str] = []
    yield profiles.append
    for p in profiles:
        remove_by_label(docker_client, f"lcai.profile={p}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateDockerd:
    """A dockerd of its own (data/exec root, socket, no bridge/iptables) that a test can stop and start."""

    def __init__(self, root):
        from pathlib import Path

        self.root = Path(root)
        self.sock = self.root / "d.sock"
        self.url = f"unix://{self.sock}"
        self.proc = None

    def start(self, timeout: float = 30.0) -> PrivateDockerd:
        import subprocess
        import time

        import docker

        for d in ("data", "exec"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        tag = f"lcai-rt-{os.getpid()}-{id(self) % 10000}"
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            ["dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.root / "dockerd.pid"), "-H", self.url, "--containerd-namespace", tag,
             "--containerd-plugins-namespace", f"{tag}-p", "--iptables=false", "--ip6tables=false",
             "--bridge=none"], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                c = docker.DockerClient(base_url=self.url, timeout=5)
                c.ping()
                c.close()
                return self
            except Exception:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"private dockerd did not start (see {self.root / 'dockerd.log'})")

    def stop(self, timeout: float = 30.0) -> None:
        import subprocess

        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def cleanup(self) -> None:
        """Stop, unmount what dockerd left mounted below its root (netns, data bind), remove the root."""
        import shutil
        import subprocess

        self.stop()
        prefix = str(self.root.resolve()) + "/"
        with open("/proc/mounts") as fh:
            mounts = [line.split()[1] for line in fh if line.split()[1].startswith(prefix)]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
