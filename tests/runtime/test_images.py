"""Images: ref parsing, per-layer pull progress, digest record, the offline sim image, pull failures."""

from __future__ import annotations

import pytest

from tray_agent.core.runtime import images


def test_split_ref():
    assert images.split_ref("registry.lightchain.ai/testnet/worker:latest") == (
        "registry.lightchain.ai/testnet/worker", "latest")
    assert images.split_ref("localhost:5000/w") == ("localhost:5000/w", "latest")
    assert images.split_ref("busybox") == ("busybox", "latest")
    assert images.split_ref("a/b@sha256:abc") == ("a/b", "sha256:abc")


class _FakeApi:
    """docker-py's low-level pull stream (the decoded JSON events a registry pull yields)."""

    def __init__(self, events):
        self.events = events

    def pull(self, repo, tag=None, stream=False, decode=False):
        yield from self.events


class _FakeImages:
    def get(self, ref):
        class Img:
            id = "sha256:1111"
            attrs = {"RepoDigests": ["r/w@sha256:2222"]}
        return Img()


class _FakeClient:
    def __init__(self, events):
        self.api = _FakeApi(events)
        self.images = _FakeImages()


def test_pull_progress_bytes_per_layer():
    events = [
        {"status": "Pulling from r/w", "id": "latest"},
        {"status": "Downloading", "id": "l1", "progressDetail": {"current": 50, "total": 100}},
        {"status": "Downloading", "id": "l2", "progressDetail": {"current": 0, "total": 300}},
        {"status": "Downloading", "id": "l1", "progressDetail": {"current": 100, "total": 100}},
        {"status": "Pull complete", "id": "l2", "progressDetail": {}},
    ]
    seen = []
    info = images.pull_image(_FakeClient(events), "r/w:latest",
                             lambda p: seen.append((dict(p.layers), round(p.fraction, 3))))
    assert seen[1] == ({"l1": (50, 100)}, 0.5)
    assert seen[-1] == ({"l1": (100, 100), "l2": (300, 300)}, 1.0)
    assert info.digest == "sha256:2222"


def test_pull_error_event_raises():
    with pytest.raises(images.ImageError) as ei:
        images.pull_image(_FakeClient([{"error": "manifest unknown"}]), "r/w:1")
    assert "manifest unknown" in ei.value.message and ei.value.fix


def test_digest_record(tmp_path):
    rec = images.DigestRecord(tmp_path / "digests.json")
    assert rec.get("r/w:latest") is None
    rec.set("r/w:latest", "sha256:abc")
    assert images.DigestRecord(tmp_path / "digests.json").get("r/w:latest") == "sha256:abc"
    assert oct((tmp_path / "digests.json").stat().st_mode & 0o777) == "0o600"


@pytest.mark.docker
def test_sim_image_offline_and_idempotent(docker_client, sim_image):
    first = docker_client.images.get(sim_image).id
    assert images.build_sim_image(docker_client, sim_image) == first  # unchanged host layout: no rebuild
    mounts = images.sim_image_mounts(docker_client, sim_image)
    assert images.repo_root().as_posix() in mounts or any(
        images.repo_root().as_posix().startswith(m + "/") for m in mounts)
    cfg = docker_client.images.get(sim_image).attrs["Config"]
    assert cfg["Entrypoint"][-2:] == ["-m", "tray_agent.devnet.sim_worker"]
    info = images.local_image(docker_client, sim_image)
    assert info is not None and info.digest == first


@pytest.mark.docker
def test_pull_unreachable_registry_is_image_error(docker_client):
    with pytest.raises(images.ImageError) as ei:
        images.ensure_image(docker_client, "127.0.0.1:1/lcai/none:1")
    assert "127.0.0.1:1/lcai/none:1" in ei.value.message


@pytest.mark.docker
def test_newer_digest_unknown_offline(docker_client):
    assert images.newer_digest(docker_client, "127.0.0.1:1/lcai/none:1", "sha256:abc") is None
