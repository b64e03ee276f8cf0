"""One worker per GPU on one machine, end to end: two real devnet agents (profiles ``gpu0`` and ``gpu1`` under one
LCAI_TRAY_HOME, each with its own key, stake, simulated Ollama and worker container on the private dockerd) on a
machine whose two GPUs are simulated (``LCAI_SIMULATED_GPUS``: an 8 GiB and a 24 GiB card).

- gpu0 is pinned from the onboarding page's one-worker-per-GPU offer (Chromium), gpu1 with ``setup --gpus 1``;
- each agent's hardware check and fit check count its own GPU only; the speed test names the GPU it ran on;
- each worker container carries its GPU group. Devnet runs the simulated worker without any GPU (this dockerd has
  none), so these containers get no device request: the label is what is checked here. The device requests by id
  that a real network gets are checked on the same dockerd in tests/runtime/test_gpu_device_requests.py;
- the dashboard's "workers on this machine" view lists both (screenshot), the tray's pure render fed by the same
  discovery shows both and the worst state, and stopping one worker leaves the other online.

Each profile runs its own devnet chain (the devnet is per profile by design); on testnet/mainnet both would use the
same chain.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.harness.agent import AgentProc, docker_client_or_none
from tests.harness.fixtures import needs_devnet

pytestmark = pytest.mark.slow
GPUS = json.dumps([{"name": "RTX 4060", "vram_gib": 8}, {"name": "RTX 4090", "vram_gib": 24}])
PROFILES = ("gpu0", "gpu1")


@pytest.fixture(scope="module")
def machine(tmp_path_factory, sim_image):
    """Two agents on one simulated two-GPU machine (started, not onboarded)."""
    needs_devnet()
    home = Path(tmp_path_factory.mktemp("gpus"))
    agents = {p: AgentProc(home, profile=p, secrets_file=home / "secrets" / f"{p}.json", log_name=f"{p}.log",
                           extra_env={"LCAI_SIMULATED_GPUS": GPUS}) for p in PROFILES}
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda a: a.start(timeout=90), agents.values()))
        yield home, agents
    finally:
        client = docker_client_or_none()
        for a in agents.values():
            a.cleanup(client)


class Page:
    """A logged-in Chromium page of one agent; JavaScript errors fail the test."""

    def __init__(self, browser, agent: AgentProc, page: str):
        self.ctx = browser.new_context(viewport={"width": 1100, "height": 800}, bypass_csp=True)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(agent.client.login_url(f"/ui/{page}.html"))
        self.page.wait_for_url(re.compile(rf"/ui/{page}\.html"))

    def close(self) -> None:
        assert not self.errors, f"JavaScript errors: {self.errors}"
        self.ctx.close()


def _container(name: str) -> dict:
    client = docker_client_or_none()
    assert client is not None
    return client.api.inspect_container(name)


def test_pin_from_onboarding_offer_and_from_the_cli(machine, browser, shots):
    _home, agents = machine
    a0, a1 = agents["gpu0"], agents["gpu1"]
    # gpu0: the onboarding page's hardware step offers one worker per GPU; its button pins this worker to GPU 0
    assert a0.post("/api/onboarding/network", {"network": "devnet"}).status == 200
    p = Page(browser, a0, "onboarding")
    p.page.wait_for_selector("#per-gpu #pin-gpu")
    assert "RTX 4090 (24.0 GiB total) — simulated" in p.page.inner_text("#panel")
    hw = a0.client.get("/api/hardware")  # (read after the page: reading it completes the hardware step)
    assert [g["name"] for g in hw["gpus"]] == ["RTX 4060", "RTX 4090"]  # not pinned yet: the whole machine
    assert hw["per_gpu"]["offer"] and hw["per_gpu"]["others"][0]["command"] == "lcai-tray --profile gpu1 setup --gpus 1"
    assert "lcai-tray --profile gpu1 setup --gpus 1" in p.page.inner_text("#per-gpu-commands")
    p.page.screenshot(path=str(shots / "onboarding-one-worker-per-gpu.png"), full_page=True)
    p.page.click("#pin-gpu")
    p.page.wait_for_selector("#per-gpu >> text=This worker uses GPU 0 only.")
    assert "lcai-tray --profile gpu1 setup --gpus 1" in p.page.inner_text("#per-gpu-commands")
    p.page.screenshot(path=str(shots / "onboarding-pinned-gpu0.png"), full_page=True)
    p.close()
    assert a0.client.get("/api/settings")["gpus"] == ["0"]
    # gpu1: the CLI; without a terminal the pinning is saved and the interactive part refuses clearly
    r = a1.cli("setup", "--gpus", "1")
    assert r.returncode == 2 and "uses GPU 1 only" in r.stdout, r.stdout + r.stderr
    assert "the GPU pinning is saved" in r.stderr
    bad = a1.cli("setup", "--gpus", "7")
    assert bad.returncode == 2 and "this machine has no GPU 7" in bad.stderr and "1 (RTX 4090)" in bad.stderr
    taken = a1.cli("setup", "--gpus", "0,1")  # GPU 0 is gpu0's: two workers never share a GPU
    assert taken.returncode == 2 and "GPU 0 is already used by the worker 'gpu0'" in taken.stderr, taken.stderr
    assert a1.client.get("/api/settings")["gpus"] == ["1"]


def test_hardware_and_fit_per_gpu_group(machine):
    _home, agents = machine
    h0, h1 = (agents[p].client.get("/api/hardware") for p in PROFILES)
    assert [g["name"] for g in h0["gpus"]] == ["RTX 4060"] and h0["gpu_memory_bytes"] == 8 * 2**30
    assert [g["name"] for g in h1["gpus"]] == ["RTX 4090"] and h1["gpu_memory_bytes"] == 24 * 2**30
    assert len(h1["machine_gpus"]) == 2 and h1["per_gpu"]["pinned"] == ["1"]
    f0 = agents["gpu0"].client.post("/api/models/fit", {"models": ["gpt-oss:20b"]})
    f1 = agents["gpu1"].client.post("/api/models/fit", {"models": ["gpt-oss:20b"]})
    assert (f0["verdict"], f0["available_bytes"]) == ("wont_fit", 8 * 2**30)
    assert (f1["verdict"], f1["available_bytes"]) == ("fits", 24 * 2**30)


def test_two_workers_online_each_in_its_own_container(machine):
    _home, agents = machine
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda a: a.onboard(timeout=240), agents.values()))
    addresses = set()
    for p, ids in (("gpu0", "0"), ("gpu1", "1")):
        st = agents[p].status()
        assert st["state"] == "online", st
        addresses.add(st["address"])
        c = _container(f"lightchain-worker-devnet-{p}")
        assert c["State"]["Running"] and c["Config"]["Labels"]["lcai.gpus"] == ids
        assert c["Config"]["Labels"]["lcai.profile"] == p
        assert not c["HostConfig"]["DeviceRequests"]  # devnet: the simulated worker gets no GPU (see the docstring)
    assert len(addresses) == 2  # two keys, two stakes


def test_speed_test_runs_on_the_group(machine, browser, shots):
    """The speed test page of gpu1: it runs against gpu1's own Ollama (devnet: its simulated one) and names GPU 1."""
    a1 = machine[1]["gpu1"]
    p = Page(browser, a1, "speedtest")
    p.page.wait_for_selector("#run")
    p.page.click("#run")
    p.page.wait_for_selector("#tested-gpus, #errors .notice.error", timeout=180_000)
    assert p.page.inner_text("#tested-gpus").startswith("Measured on GPU 1 (RTX 4090)")
    p.page.screenshot(path=str(shots / "speedtest-gpu1.png"), full_page=True)
    p.close()
    (rec,) = [o for o in a1.client.get("/api/history?limit=20")["items"] if o["kind"] == "speedtest"]
    assert rec["state"] == "done" and [g["id"] for g in rec["result"]["gpus"]] == ["1"], rec


def test_workers_view_tray_and_stopping_one(machine, browser, shots, monkeypatch):
    home, agents = machine
    a0, a1 = agents["gpu0"], agents["gpu1"]
    view = a0.client.get("/api/machine/workers")
    assert [(w["profile"], w["state"], w["gpus"], w["current"]) for w in view["workers"]] == \
        [("gpu0", "online", ["0"], True), ("gpu1", "online", ["1"], False)]
    p = Page(browser, a0, "dashboard")
    p.page.wait_for_selector("#machine-table tbody tr[data-profile='gpu1'][data-state='online']")
    p.page.screenshot(path=str(shots / "dashboard-with-two-workers.png"), full_page=True)
    p.page.locator("#machine-box").screenshot(path=str(shots / "dashboard-workers-on-this-machine.png"))

    # the tray of gpu0: the other worker comes from the same discovery the running tray polls (MachineWatch)
    monkeypatch.setenv("LCAI_TRAY_HOME", str(home))
    from tray_agent.common.status import Status
    from tray_agent.tray.machine import MachineWatch
    from tray_agent.tray.view import ViewContext, render

    others = MachineWatch("gpu0", lambda _e: None).poll()
    assert [(w.profile, w.status.state.value if w.status else None) for w in others] == [("gpu1", "online")]
    tv = render(Status.from_dict(a0.status()), ViewContext(others=others))
    menu = next(i for i in tv.menu_items if i.label.startswith("Workers on this machine"))
    assert [i.label.split(":")[0] for i in menu.submenu] == ["gpu0 (this)", "gpu1"]
    assert tv.icon_key.startswith("online") and "2 online" in tv.tooltip

    rec = a1.op("stop", {}, timeout=120)
    assert rec["state"] == "done", rec
    a1.wait_state("paused", timeout=60)
    t_end = time.monotonic() + 8  # the other worker is untouched: online, its container running, the whole time
    while time.monotonic() < t_end:
        assert a0.status()["state"] == "online"
        assert _container("lightchain-worker-devnet-gpu0")["State"]["Running"]
        time.sleep(1)
    others = MachineWatch("gpu0", lambda _e: None).poll()
    tv = render(Status.from_dict(a0.status()), ViewContext(others=others))
    assert tv.icon_key.startswith("paused") and "1 paused, 1 online" in tv.tooltip
    view = a0.client.get("/api/machine/workers")
    assert (view["worst_state"], view["worst_profile"]) == ("paused", "gpu1")
    p.page.wait_for_selector("#machine-table tbody tr[data-profile='gpu1'][data-state='paused']", timeout=20000)
    assert "Paused (gpu1)" in p.page.inner_text("#machine-worst")
    p.page.locator("#machine-box").screenshot(path=str(shots / "dashboard-workers-one-stopped.png"))
    p.close()
