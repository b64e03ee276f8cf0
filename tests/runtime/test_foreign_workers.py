"""Other worker containers on the real (private) dockerd: a toolkit-started worker is found and reported, this
profile's stale container (another network, an older name) is removed, another profile's is left alone."""

from __future__ import annotations

import pytest

from tray_agent.core.runtime import foreign
from tray_agent.core.runtime.worker_container import LABEL_MANAGED

pytestmark = pytest.mark.docker


def _run(client, image, name, labels=None, env=None):
    return client.containers.run(image, name=name, detach=True, labels=labels or {}, environment=env or {},
                                 entrypoint=["sleep", "300"])


def test_scan_finds_the_toolkit_worker_and_this_profiles_stale_container(docker_client, sim_image):
    made = []
    try:
        made.append(_run(docker_client, sim_image, "lightchain-worker", env={"CHAIN_ID": "8200"}))
        made.append(_run(docker_client, sim_image, "lcai-fw-stale",
                         labels={LABEL_MANAGED: "1", "lcai.profile": "fw", "lcai.role": "worker"}))
        made.append(_run(docker_client, sim_image, "lcai-fw-other-profile",
                         labels={LABEL_MANAGED: "1", "lcai.profile": "someone-else", "lcai.role": "worker"}))
        made.append(_run(docker_client, sim_image, "unrelated-sleeper"))
        others, stale = foreign.scan(docker_client, "lightchain-worker-devnet-fw", "fw")
        assert [o.name for o in others] == ["lightchain-worker"] and others[0].chain_id == "8200"
        assert [c.name for c in stale] == ["lcai-fw-stale"]
        assert foreign.remove_stale(stale, stop_timeout=2) == ["lcai-fw-stale"]
        names = {c.name for c in docker_client.containers.list(all=True)}
        assert "lcai-fw-stale" not in names and "lcai-fw-other-profile" in names
    finally:
        for c in made:
            try:
                c.remove(force=True)
            except Exception:
                pass


def test_own_container_is_neither_foreign_nor_stale(docker_client, sim_image):
    c = _run(docker_client, sim_image, "lightchain-worker-devnet-fw2",
             labels={LABEL_MANAGED: "1", "lcai.profile": "fw2", "lcai.role": "worker"})
    try:
        assert foreign.scan(docker_client, "lightchain-worker-devnet-fw2", "fw2") == ([], [])
    finally:
        c.remove(force=True)


def test_foreign_jobs_read_inside_its_container_and_key_folder_errors(docker_client, sim_image, tmp_path):
    """A toolkit worker's metrics listen inside its container (not published): read with its busybox wget. Adopt's
    key lookup names what is wrong: a mounted folder without key files, a keystore without its encryption key."""
    from tray_agent.common.errors import NotFoundError
    from tray_agent.core.foreign_ops import _key_folder

    www, keys = tmp_path / "www", tmp_path / "keys"
    www.mkdir()
    keys.mkdir()
    (www / "healthz").write_text("ok")
    (www / "metrics").write_text("worker_active_jobs 2\n")
    c = docker_client.containers.run(sim_image, name="lightchain-worker", detach=True, environment={
        "CHAIN_ID": "31337", "WORKER_KEYSTORE_PATH": "/etc/lightchain/worker/keystore.json"},
        volumes={str(www): {"bind": "/www", "mode": "ro"}, str(keys): {"bind": "/etc/lightchain/worker", "mode": "ro"}},
        entrypoint=["/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:9101", "-h", "/www"])
    try:
        c.reload()
        assert foreign.active_jobs(c) == 2
        (www / "metrics").write_text("worker_active_jobs 0\n")
        assert foreign.active_jobs(c) == 0
        assert foreign.key_paths(c.attrs)[0] == str(keys / "keystore.json")
        with pytest.raises(NotFoundError) as e:
            _key_folder(c.attrs, "devnet", c.name)
        assert e.value.code == "foreign_keys_missing" and str(keys) in e.value.message and "Recover" in e.value.fix
        (keys / "keystore.json").write_text('{"address": "' + "ab" * 20 + '", "crypto": {}, "version": 3}')
        with pytest.raises(NotFoundError) as e:
            _key_folder(c.attrs, "devnet", c.name)
        assert "no encryption key" in e.value.message
    finally:
        c.remove(force=True)
