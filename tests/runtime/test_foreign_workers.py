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
