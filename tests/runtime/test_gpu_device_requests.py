"""A pinned worker's containers on the real (private) dockerd: the device request Docker stores names the GPU ids.

What is verified and what is not: the test dockerd has no GPU and no NVIDIA runtime, so a container with a GPU device
request cannot start there. The containers are therefore *created* (not started) from the locally built sim image
with the exact arguments the agent uses for a real network (testnet spec, NVIDIA runtime assumed present), and
``docker inspect`` shows the ``HostConfig.DeviceRequests`` dockerd accepted. That a start fails on this GPU-less
engine is asserted too, so the check cannot pass by the request being silently dropped. Whether the NVIDIA runtime
then exposes exactly those GPUs is the NVIDIA container toolkit's job and is not exercised here.
"""

from __future__ import annotations

import docker.errors
import pytest

from tray_agent.core.networks import get_network
from tray_agent.core.runtime import worker_container
from tray_agent.core.runtime.ollama import OllamaManager
from tray_agent.core.runtime.worker_container import WorkerSpec


def _device_requests(client, name: str) -> list[dict]:
    return client.api.inspect_container(name)["HostConfig"]["DeviceRequests"] or []


def test_worker_container_of_each_gpu_requests_its_device(paths, docker_client, sim_image, container_cleanup):
    net = get_network("testnet")
    made = []
    try:
        for profile, ids in (("gpuq0", ("0",)), ("gpuq1", ("1",)), ("gpuq01", ("0", "1"))):
            container_cleanup(profile)
            from tray_agent.common.paths import Paths

            p = Paths.for_profile(profile).ensure()
            spec = WorkerSpec.build(p, net, ["llama3-8b"], "Pw-123456789", gpu=True, gpu_ids=ids, image=sim_image,
                                    address="0x" + "cd" * 20)
            c = worker_container.create(docker_client, spec)
            made.append(c)
            reqs = _device_requests(docker_client, spec.name)
            assert [(r["DeviceIDs"], r["Capabilities"], r["Count"]) for r in reqs] == [(list(ids), [["gpu"]], 0)]
            labels = docker_client.api.inspect_container(spec.name)["Config"]["Labels"]
            assert labels["lcai.gpus"] == ",".join(ids) and labels["lcai.profile"] == profile
        with pytest.raises(docker.errors.APIError, match="(?i)device|gpu"):  # no GPU here: the start fails
            made[0].start()
    finally:
        for c in made:
            c.remove(force=True)


def test_managed_ollama_of_a_group_requests_its_device(docker_client, sim_image):
    ol = OllamaManager("http://127.0.0.1:11502", container_name="lcai-ollama-gpuq1", gpu_ids=("1",))
    kw = ol.container_kwargs(gpu=True)
    kw.pop("detach")
    kw["volumes"] = {}  # no named volume left behind by this check
    c = docker_client.containers.create(sim_image, **kw)
    try:
        assert [(r["DeviceIDs"], r["Capabilities"]) for r in _device_requests(docker_client, c.id)] == \
            [(["1"], [["gpu"]])]
        ports = docker_client.api.inspect_container(c.id)["HostConfig"]["PortBindings"]
        assert ports["11434/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "11502"}]
    finally:
        c.remove(force=True)
