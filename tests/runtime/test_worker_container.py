"""WorkerSpec: env per protocol era, networking per OS, GPUs, password handling, config hash, real create."""

from __future__ import annotations

import pytest

from tests.plugins.docker import free_port
from tray_agent.core.networks import get_network
from tray_agent.core.runtime import worker_container as wc

PW = "secret-password-for-tests-0001"


def spec_for(paths, name: str, **kw) -> wc.WorkerSpec:
    return wc.WorkerSpec.build(paths, get_network(name), kw.pop("models", ["llama3-8b"]), PW, **kw)


def test_testnet_env_external_profile(paths):
    s = spec_for(paths, "testnet", host_networking=True)
    env = s.env()
    n = get_network("testnet")
    assert env["SORTITION_ENABLED"] == "true"
    assert env["SESSION_MANAGER_ADDRESS"] == n.session_manager
    assert env["WORKER_GATEWAY_URL"] == n.gateway_url
    assert env["CHAIN_ID"] == "8200" and env["RPC_URL"] == n.rpc_url
    assert env["SHUTDOWN_TIMEOUT"] == "240s" and env["SUPPORTED_MODELS"] == "llama3-8b"
    for k in ("WORKER_KEYSTORE_PATH", "ENCRYPTION_KEYSTORE_PATH", "SESSION_KEY_FILE", "SORTITION_STATE_DIR",
              "RELEASE_STATE_PATH"):
        assert env[k].startswith("/"), k
    assert "REDIS_URL" not in env
    assert env["WORKER_METRICS_ADDR"] == "127.0.0.1:9101" and "WORKER_METRICS_ALLOW_PUBLIC" not in env
    assert s.name == paths.container_name("testnet") and s.stop_timeout == 300
    assert s.expects_gateway


def test_mainnet_legacy_era_has_no_sortition(paths):
    env = spec_for(paths, "mainnet").env()
    assert env["SORTITION_ENABLED"] == "false"
    assert "SESSION_MANAGER_ADDRESS" not in env


def test_bridge_networking_for_desktop_vms(paths):
    s = spec_for(paths, "testnet", host_networking=False, metrics_port=9222, gpu=True)
    kw = s.create_kwargs()
    assert kw["extra_hosts"] == {"host.docker.internal": "host-gateway"}
    assert kw["ports"] == {"9101/tcp": ("127.0.0.1", 9222)}
    assert "network_mode" not in kw
    env = s.env()
    assert env["OLLAMA_URL"] == "http://host.docker.internal:11434"
    assert env["WORKER_METRICS_ADDR"] == "0.0.0.0:9101" and env["WORKER_METRICS_ALLOW_PUBLIC"] == "true"
    dr = kw["device_requests"][0]
    assert dr["Count"] == -1 and dr["Capabilities"] == [["gpu"]]
    assert kw["restart_policy"] == {"Name": "unless-stopped"} and kw["stop_timeout"] == 300


def test_devnet_uses_host_networking_and_sim_image(paths):
    s = spec_for(paths, "devnet", host_networking=False)
    assert s.host_networking and s.create_kwargs()["network_mode"] == "host"
    assert s.image == "lcai-worker-sim:devnet"


def test_password_only_in_env(paths):
    s = spec_for(paths, "testnet")
    assert PW not in repr(s)
    assert PW not in str(s.labels()) and PW not in s.config_hash()
    other = wc.WorkerSpec.build(paths, get_network("testnet"), ["llama3-8b"], PW + "x")
    assert other.config_hash() != s.config_hash()  # a new password means a new container


def test_config_hash_tracks_models_and_image(paths):
    a = spec_for(paths, "testnet")
    assert a.config_hash() == spec_for(paths, "testnet").config_hash()
    assert spec_for(paths, "testnet", models=["llama3-8b", "gpt-oss:20b"]).config_hash() != a.config_hash()
    assert spec_for(paths, "testnet", image="x/y:2").config_hash() != a.config_hash()


@pytest.mark.docker
def test_real_container_matches_spec_and_drift_recreates(worker_env, docker_client, sim_image):
    paths, net, pw = worker_env
    spec = wc.WorkerSpec.build(paths, net, ["llama3-8b"], pw, metrics_port=free_port())
    c, action = wc.ensure(docker_client, spec, start=False)
    assert action == "created"
    a = c.attrs
    assert a["Config"]["StopTimeout"] == 300 and a["HostConfig"]["Init"] is True
    assert a["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert a["HostConfig"]["NetworkMode"] == "host"
    binds = a["HostConfig"]["Binds"]
    assert f"{spec.key_dir}:{wc.KEY_DIR_IN}:rw" in binds and f"{spec.state_dir}:{wc.STATE_DIR_IN}:rw" in binds
    assert any(b.endswith(":ro") for b in binds)  # the sim image's interpreter mounts
    assert a["Config"]["Labels"][wc.LABEL_HASH] == spec.config_hash()
    # unchanged spec: nothing to do
    assert wc.ensure(docker_client, spec, start=False)[1] == "unchanged"
    spec2 = wc.WorkerSpec.build(paths, net, ["llama3-8b", "qwen3-vl:8b"], pw, metrics_port=spec.metrics_port)
    c2, action2 = wc.ensure(docker_client, spec2, start=False)
    assert action2 == "recreated" and c2.id != c.id
    wc.remove(c2, 5)
    assert wc.find(docker_client, spec.name) is None
