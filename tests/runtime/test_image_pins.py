"""The worker (and the managed Ollama container) run the image held by digest: a newer local ``:latest`` — e.g.
pulled by another tool — never moves them; only the update operation does (real private dockerd; the "newer
pull" is a fresh offline import under the same tag, since no registry is reachable here)."""

from __future__ import annotations

import contextlib
import time

import docker.errors
import pytest

from tests.runtime.conftest import wait_for
from tests.runtime.test_supervisor import container, make_spec, supervise  # noqa: F401
from tray_agent.common.status import WorkerState
from tray_agent.core.runtime import images
from tray_agent.core.runtime import worker_container as wc
from tray_agent.core.runtime.ollama import PIN_KEY, OllamaManager

pytestmark = pytest.mark.docker


@pytest.fixture
def local_latest(docker_client, sim_image, paths):
    """A ``repo:latest`` only present locally, and a function that replaces it with a newer local image."""
    ref = f"lcai-test/pinned-{paths.profile}-{int(time.time() * 1000) % 10**8}:latest"
    made: list[str] = []

    def newer() -> str:
        made.append(images.build_sim_image(docker_client, ref, force=True))
        return made[-1]

    newer()
    yield ref, newer
    for i in reversed(made):
        with contextlib.suppress(docker.errors.DockerException):
            docker_client.images.remove(i, force=True)


def test_newer_local_latest_never_moves_the_worker(worker_env, supervise, docker_client, local_latest,  # noqa: F811
                                                   monkeypatch):
    ref, newer = local_latest
    first = docker_client.images.get(ref).id
    spec = make_spec(worker_env, image=ref)
    sup, rec = supervise(worker_env[0], lambda: spec)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    pins = images.ImagePins(worker_env[0].data / "image-pins.json")
    assert container(docker_client, spec).attrs["Image"] == first
    assert pins.get(spec.network.name).id == first
    assert rec.fields["extra"]["runtime"]["image_digest"] == first  # local image: its id is its digest

    second = newer()  # another tool pulls a newer :latest
    assert second != first
    sup.restart()  # a restart (and every tick) keeps the pinned image
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online after restart")
    sup.wake()
    time.sleep(1.0)
    assert container(docker_client, spec).attrs["Image"] == first
    assert pins.get(spec.network.name).id == first

    # only the update operation moves it (the registry pull is replaced by "what is local now": offline)
    monkeypatch.setattr(images, "pull_image", lambda client, r, on_progress=None: images.local_image(client, r))
    upd = sup.update_image()
    assert (upd.old_digest, upd.new_digest, upd.changed) == (first, second, True)
    assert container(docker_client, spec).attrs["Image"] == second and pins.get(spec.network.name).id == second
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online on the new image")
    assert rec.fields["extra"]["runtime"]["image_digest"] == second
    assert sup.update_image().changed is False


def test_first_pin_after_upgrade_is_the_image_the_container_runs(worker_env, supervise, docker_client,  # noqa: F811
                                                                 local_latest):
    ref, newer = local_latest
    first = docker_client.images.get(ref).id
    spec = make_spec(worker_env, image=ref)
    wc.ensure(docker_client, spec)  # what an agent version without pins did: the container runs the ref's image
    newer()
    _sup, rec = supervise(worker_env[0], lambda: spec)
    wait_for(lambda: rec.state is WorkerState.ONLINE, 60, what="online")
    assert images.ImagePins(worker_env[0].data / "image-pins.json").get(spec.network.name).id == first
    assert container(docker_client, spec).attrs["Image"] == first


class SleepingOllama(OllamaManager):
    """The managed-container code path on the sim image (no Ollama image offline): no port (the private dockerd
    has no bridge), an entrypoint that just sleeps."""

    def container_kwargs(self, gpu: bool) -> dict:
        kw = super().container_kwargs(gpu)
        kw.pop("ports")
        kw.update(network_mode="none", entrypoint=["/bin/sleep", "600"])
        return kw


def test_managed_ollama_container_keeps_its_pinned_image(docker_client, local_latest, tmp_path, monkeypatch):
    ref, newer = local_latest
    first = docker_client.images.get(ref).id
    name = f"lcai-test-ollama-{int(time.time() * 1000) % 10**8}"
    pins = images.ImagePins(tmp_path / "image-pins.json")
    mgr = SleepingOllama(docker_client=docker_client, image=ref, container_name=name, volume=f"{name}-v", pins=pins)
    try:
        mgr._ensure_container()
        assert docker_client.containers.get(name).attrs["Image"] == first
        second = newer()
        docker_client.containers.get(name).remove(force=True)  # e.g. removed by the user: recreated on the pin
        mgr._ensure_container()
        assert docker_client.containers.get(name).attrs["Image"] == first and pins.get(PIN_KEY).id == first
        monkeypatch.setattr(images, "pull_image", lambda client, r, on_progress=None: images.local_image(client, r))
        upd = mgr.update_image()
        assert (upd.old_digest, upd.new_digest) == (first, second)
        assert docker_client.containers.get(name).attrs["Image"] == second
    finally:
        with contextlib.suppress(docker.errors.DockerException):
            docker_client.containers.get(name).remove(force=True)
        with contextlib.suppress(docker.errors.DockerException):
            docker_client.volumes.get(f"{name}-v").remove(force=True)
