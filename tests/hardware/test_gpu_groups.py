"""One worker per GPU, the pure parts: the ``gpus`` setting, simulated GPUs (``LCAI_SIMULATED_GPUS``), the hardware
report and fit check of a GPU group, the one-worker-per-GPU offer, and the device requests / visible-device
environment a pinned worker gets. The containers themselves are checked on the real dockerd in
tests/runtime/test_gpu_device_requests.py and tests/ui/test_ui_gpu_workers.py."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tray_agent.common.errors import ValidationError
from tray_agent.core.fit import fit_models
from tray_agent.core.gpu_groups import parse_gpu_ids, per_gpu_offer, restrict, visible_devices_env
from tray_agent.core.gpus import SIMULATED_ENV, simulated_gpus
from tray_agent.core.hardware import GiB, detect

TWO = json.dumps([{"name": "RTX 4060", "vram_gib": 8}, {"name": "RTX 4090", "vram_gib": 24}])


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setenv(SIMULATED_ENV, TWO)


@pytest.mark.parametrize(("value", "ids"), [("1", ("1",)), ("0,1", ("0", "1")), (" 0 , 2 ", ("0", "2")),
                                            ([0, 1], ("0", "1")), (["3"], ("3",)), ("", ()), (None, ()), ([], ())])
def test_parse_gpu_ids(value, ids) -> None:
    assert parse_gpu_ids(value) == ids


@pytest.mark.parametrize(("value", "words"), [("a", "not a GPU number"), ("0,0", "named twice"), ("-1", "not a GPU"),
                                              ([True], "not a GPU"), ({"x": 1}, "list of GPU numbers"),
                                              (",".join(str(i) for i in range(17)), "at most 16")])
def test_bad_gpu_ids_name_the_field_and_the_fix(value, words) -> None:
    with pytest.raises(ValidationError) as e:
        parse_gpu_ids(value)
    assert words in e.value.message and e.value.field == "gpus" and "0,1" in e.value.fix


def test_gpus_setting_is_validated_and_kept(paths) -> None:
    from tray_agent.core.settings import Settings

    s = Settings(paths.settings_file)
    assert s.gpu_ids() == ()
    s.update({"gpus": "1"})
    assert s.gpu_ids() == ("1",) and json.loads(paths.settings_file.read_text())["gpus"] == ["1"]
    with pytest.raises(ValidationError):
        s.update({"gpus": "one"})
    assert s.gpu_ids() == ("1",)


def test_simulated_gpus_replace_detection(two_gpus) -> None:
    gpus = simulated_gpus()
    assert [(g.name, g.vram_bytes, g.index, g.source) for g in gpus] == \
        [("RTX 4060", 8 * GiB, 0, "simulated"), ("RTX 4090", 24 * GiB, 1, "simulated")]
    assert simulated_gpus("") is None
    with pytest.raises(ValueError, match=SIMULATED_ENV):
        simulated_gpus("[{oops")


def test_hardware_and_fit_count_the_group_only(two_gpus) -> None:
    whole = detect(disk_paths={})
    g1 = detect(disk_paths={}, gpu_ids=("1",))
    g0 = detect(disk_paths={}, gpu_ids=("0",))
    assert whole.gpu_memory_bytes == 32 * GiB and len(whole.gpus) == 2
    assert [g.name for g in g1.gpus] == ["RTX 4090"] and g1.gpu_memory_bytes == 24 * GiB
    assert len(g1.machine_gpus) == 2 and g1.pinned_gpus == ("1",)
    assert g0.gpu_memory_bytes == 8 * GiB
    # gpt-oss:20b needs ~12.8 GiB: it fits the 24 GiB group and the whole machine, not the 8 GiB group
    assert fit_models(["gpt-oss:20b"], "devnet", g1).verdict == "fits"
    assert fit_models(["gpt-oss:20b"], "devnet", whole).verdict == "fits"
    r0 = fit_models(["gpt-oss:20b"], "devnet", g0)
    assert r0.verdict == "wont_fit" and r0.available_bytes == 8 * GiB
    with pytest.raises(ValidationError, match="no GPU 5") as e:
        detect(disk_paths={}, gpu_ids=("5",))
    assert "0 (RTX 4060)" in e.value.fix and "1 (RTX 4090)" in e.value.fix


def test_restrict_keeps_the_order_asked(two_gpus) -> None:
    gpus = simulated_gpus()
    assert [g.index for g in restrict(gpus, ("1", "0"))] == [1, 0]
    assert restrict(gpus, ()) == gpus


def test_offer_one_worker_per_gpu(two_gpus) -> None:
    gpus = simulated_gpus()
    offer = per_gpu_offer(gpus, "default", ())
    assert offer["offer"] and offer["this_worker"]["gpus"] == "0"
    assert [o["command"] for o in offer["others"]] == ["lcai-tray --profile gpu1 setup --gpus 1"]
    assert not per_gpu_offer(gpus[:1], "default", ())["offer"]
    pinned = per_gpu_offer(gpus, "gpu1", ("1",))
    assert pinned["pinned"] == ["1"] and pinned["this_worker"]["gpus"] == "1"
    assert [o["command"] for o in pinned["others"]] == ["lcai-tray --profile gpu0 setup --gpus 0"]


def test_extra_gpu_workers_start_at_login_without_a_tray() -> None:
    from tray_agent.core.gpu_groups import autostart_headless

    assert autostart_headless("gpu1", ("1",)) and not autostart_headless("default", ("0",))
    assert not autostart_headless("gpu1", ())


def test_worker_spec_requests_its_device_ids_only(paths) -> None:
    from tray_agent.core.networks import get_network
    from tray_agent.core.runtime.worker_container import LABEL_GPUS, WorkerSpec

    net = get_network("testnet")
    base = {"models": ["llama3-8b"], "password": "Pw-123456789", "gpu": True, "address": "0x" + "ab" * 20}
    pinned = WorkerSpec.build(paths, net, gpu_ids=("1",), **base)
    every = WorkerSpec.build(paths, net, **base)
    req = pinned.create_kwargs()["device_requests"][0]
    assert req["DeviceIDs"] == ["1"] and req["Capabilities"] == [["gpu"]] and not req.get("Count")
    assert every.create_kwargs()["device_requests"][0]["Count"] == -1
    assert pinned.labels()[LABEL_GPUS] == "1" and LABEL_GPUS not in every.labels()
    assert pinned.config_hash() != every.config_hash()  # pinning recreates the container


def test_managed_ollama_of_a_group(paths) -> None:
    from tray_agent.core.runtime.ollama import OllamaManager

    ol = OllamaManager("http://127.0.0.1:11500", container_name="lcai-ollama-gpu1", gpu_ids=("1",))
    kw = ol.container_kwargs(gpu=True)
    assert kw["device_requests"][0]["DeviceIDs"] == ["1"] and kw["ports"]["11434/tcp"] == ("127.0.0.1", 11500)
    assert kw["name"] == "lcai-ollama-gpu1" and kw["labels"]["lcai.gpus"] == "1"
    assert visible_devices_env(("0", "1")) == {"CUDA_VISIBLE_DEVICES": "0,1", "ROCR_VISIBLE_DEVICES": "0,1"}


def test_host_ollama_of_a_group_sees_its_gpus_only(tmp_path: Path) -> None:
    """A real child process stands in for ``ollama serve`` and records the environment it was started with."""
    from tray_agent.core.runtime.ollama import OllamaManager

    out = tmp_path / "env.txt"
    ol = OllamaManager("http://127.0.0.1:11501", gpu_ids=("1",), serve_cmd=("/bin/sh", "-c", f"env > {out}"))
    ol._start_host()
    deadline = time.monotonic() + 10
    while not (out.exists() and "OLLAMA_HOST" in out.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["ROCR_VISIBLE_DEVICES"] == "1"
    assert env["OLLAMA_HOST"] == "127.0.0.1:11501"
    ol.stop_started()
    assert os.environ.get("CUDA_VISIBLE_DEVICES") != "1"  # only the child got it


def test_terminal_setup_explains_one_worker_per_gpu(two_gpus, capsys) -> None:
    from tray_agent.cli_setup import _offer_per_gpu

    gpus = simulated_gpus()
    _offer_per_gpu({"per_gpu": per_gpu_offer(gpus, "default", ())})
    out = capsys.readouterr().out
    assert "This machine has 2 GPUs" in out and "lcai-tray --profile default setup --gpus 0" in out
    assert "GPU 1 (RTX 4090): lcai-tray --profile gpu1 setup --gpus 1" in out
    _offer_per_gpu({"per_gpu": per_gpu_offer(gpus, "gpu1", ("1",))})  # already pinned: nothing to offer
    assert capsys.readouterr().out == ""
