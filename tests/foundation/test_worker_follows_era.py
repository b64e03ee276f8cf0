"""The worker runs in the mode the chain is in (issue 12 §7): the self-check's sortition flag and SessionManager
replace the shipped table's values in the container's environment."""

from __future__ import annotations

from tray_agent.common.paths import Paths
from tray_agent.core.events import EventBus
from tray_agent.core.facts import Facts
from tray_agent.core.networks import load_networks
from tray_agent.core.runtime.worker_container import WorkerSpec
from tray_agent.core.services.worker import WorkerService
from tray_agent.core.settings import Settings
from tray_agent.core.state_owner import StateOwner


def test_worker_follows_the_chains_era(tmp_path, monkeypatch):
    monkeypatch.setenv("LCAI_TRAY_HOME", str(tmp_path))
    paths = Paths.for_profile("era").ensure()
    net = load_networks()["testnet"].replace(sortition_enabled=False, session_manager="")
    owner = StateOwner(EventBus(), Facts())
    w = WorkerService(paths, net, Settings(paths.settings_file), custody=None, owner=owner, address=lambda: None,
                      manage=False)
    manager = "0x86AdA80864e87dE2275200FeE905b5C32b32Bf68"
    w.follow_era(True, manager)
    env = WorkerSpec.build(paths, w.network, ["llama3-8b"], "pw-era-test-123").env()
    assert env["SORTITION_ENABLED"] == "true" and env.get("SESSION_MANAGER_ADDRESS") == manager
    w.follow_era(False, "")
    assert WorkerSpec.build(paths, w.network, ["llama3-8b"], "pw-era-test-123").env()["SORTITION_ENABLED"] == "false"
    owner.close()
