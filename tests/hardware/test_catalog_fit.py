"""Model catalog (fees, sizes, ids), footprints and the fit verdict (exact integer bytes)."""

from __future__ import annotations

import json

import ollama
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tray_agent.core import catalog as cat
from tray_agent.core import fit
from tray_agent.core.catalog import Footprint
from tray_agent.core.hardware import GB, GPU, GiB, HardwareReport

# Verified ids from networks.md §6 (keccak256 of the exact name).
SPEC_IDS = {
    "llama3-8b": "0xf4a414fa51803433e9197f32cda96d5cb2ac8269c481eb0262fe2dd11f428848",
    "llama3-70b": "0x665d85c3b24f6a5cb91f90ec2e215d6155531158ff7ba81dfd182ecfab1dd4cf",
    "glm-4.7-flash": "0x35f686ade96649d2bf47e024eca280619fc80458c5cdece4804fc3f1561bd542",
    "gpt-oss:20b": "0x812058e1dbc4b7ee2b5c8db96cd83bdc110740ae43d3fa4ee116e7e38e2ea802",
    "gpt-oss:120b": "0x7519e6b291d1e88ee9c045dce2d1e9db92a3bba4ed967be12426b3c71bbc7c98",
    "qwen3-vl:8b": "0xab5055d54803561873a25c21f4cc853371b17b69620b39b2ecca824c259b2ff3",
    "qwen3-vl:30b": "0x18db253105a3231f058bd6a14970d9230a64a9e54df29e47cc5c6c355c1a84ca",
    "qwen3-embedding:0.6b": "0xde701c92d38c91686d6f7f44f9b634b3adf16b8e79bb9094abfec66180a18f67",
    "gemma4:e2b": "0x264fdec586bc9c5f17becd6ead7e43cb69aa68a9dd6dea3dbbeca8c8717325d1",
    "qwen3-coder:30b": "0xfbd1118750250e8c850ec07e691fef6e78fc8d482c0601bcbcd2e59984fa41e5",
}
LCAI = 10**18


# --------------------------------------------------------------------------- catalog


def test_model_ids_match_spec() -> None:
    for name, mid in SPEC_IDS.items():
        assert cat.model_id(name) == mid
        assert cat.entry_for(name, "testnet").model_id == mid


def test_shipped_testnet_catalog_fees_exact() -> None:
    entries = {e.name: e for e in cat.catalog_for("testnet")}
    assert entries["llama3-8b"].fee_wei == 2 * LCAI // 100 and entries["llama3-8b"].fee_source == "catalog"
    assert entries["gpt-oss:120b"].fee_wei == 2 * LCAI // 10
    assert entries["qwen3-embedding:0.6b"].fee_wei == 5 * LCAI // 1000
    assert entries["gemma4:e2b"].fee_wei is None and entries["gemma4:e2b"].fee_source == "unknown"
    assert "qwen3-coder:30b" not in entries  # not known to be live
    fees = [e.fee_wei for e in cat.catalog_for("testnet")]
    known = [f for f in fees if f is not None]
    assert known == sorted(known, reverse=True) and fees[-1] is None  # highest fee first, unknown last
    json.dumps([e.to_dict() for e in cat.catalog_for("testnet")])


def test_mainnet_fallback_is_the_default_model_with_unknown_fee() -> None:
    [only] = cat.catalog_for("mainnet")
    assert only.name == "llama3-8b" and only.fee_wei is None


def test_live_fees_define_the_set() -> None:
    live = {"llama3-8b": 25 * LCAI // 1000, "mistral-7b": 10**16}
    entries = {e.name: e for e in cat.catalog_for("testnet", fees_wei=live, max_output_tokens={"llama3-8b": 2048})}
    assert set(entries) == set(live)
    assert entries["llama3-8b"].fee_wei == 25 * LCAI // 1000 and entries["llama3-8b"].fee_source == "chain"
    assert entries["llama3-8b"].max_output_tokens == 2048 and entries["llama3-8b"].disk_bytes == 4_700_000_000
    m = entries["mistral-7b"]
    assert not m.in_catalog and m.ollama_tag == "mistral:7b" and m.params_b == 7 and m.label == "Standard"


@pytest.mark.parametrize(
    ("name", "tag", "params"),
    [("llama3-8b", "llama3:8b", 8), ("llama3-70b", "llama3:70b", 70), ("gemma4:e2b", "gemma4:e2b", 2),
     ("qwen3-embedding:0.6b", "qwen3-embedding:0.6b", 0.6), ("glm-4.7-flash", "glm-4.7-flash", None),
     ("gpt-oss:120b", "gpt-oss:120b", 120)],
)
def test_names(name, tag, params) -> None:
    assert cat.pull_tag(name) == tag
    assert cat.params_from_name(name) == params


@pytest.mark.parametrize(("params", "mem"), [(2, 4 * GB), (None, 8 * GB), (8, 8 * GB), (14, 12 * GB), (30, 24 * GB),
                                             (70, 48 * GB)])
def test_heuristic_table(params, mem) -> None:
    assert cat.heuristic_memory(params)[0] == mem


# --------------------------------------------------------------------------- footprint

LLAMA_KV_PER_TOKEN = 2 * 32 * 8 * 128 * 2  # 131072


def test_footprint_from_catalog_exact() -> None:
    fp = cat.footprint(cat.entry_for("llama3-8b", "testnet"), context_length=4096)
    assert (fp.weights_bytes, fp.weights_source) == (4_700_000_000, "catalog_disk")
    assert fp.kv_bytes == LLAMA_KV_PER_TOKEN * 4096 == 512 * 1024**2 and fp.kv_source == "catalog"
    assert fp.total_bytes == 4_700_000_000 + 512 * 1024**2 + cat.RUNTIME_OVERHEAD_BYTES
    two = cat.footprint(cat.entry_for("llama3-8b", "testnet"), context_length=8192, parallel=2)
    assert two.kv_bytes == LLAMA_KV_PER_TOKEN * 8192 * 2


def test_footprint_fallbacks() -> None:
    glm = cat.footprint(cat.entry_for("glm-4.7-flash", "testnet"))
    assert glm.kv_source == "default_estimate" and glm.kv_bytes == cat.DEFAULT_KV_PER_TOKEN * cat.DEFAULT_CONTEXT
    seventy = cat.footprint(cat.entry_for("llama3-70b", "testnet"))  # no disk size known: measured memory
    assert (seventy.weights_source, seventy.total_bytes) == ("catalog_measured", 48 * GB)
    gemma = cat.footprint(cat.entry_for("gemma4:e2b", "testnet"))
    assert (gemma.weights_source, gemma.total_bytes) == ("name_heuristic", 4 * GB)
    with pytest.raises(ValueError):
        cat.footprint(cat.entry_for("llama3-8b", "testnet"), context_length=0)


def test_footprint_uses_real_ollama_sizes(fake_ollama_factory) -> None:
    fake = fake_ollama_factory(installed=["llama3:8b", "gpt-oss:20b"])
    client = ollama.Client(host=fake.url)
    client.copy("llama3:8b", "llama3-8b")
    client.generate(model="gpt-oss:20b", keep_alive=-1, options={"num_ctx": 4096})
    facts = cat.ollama_facts(client, ["llama3-8b", "gpt-oss:20b", "qwen3-vl:8b"])
    assert set(facts) == {"llama3-8b", "gpt-oss:20b"}  # not pulled → no facts
    assert facts["llama3-8b"].size_bytes == 4_661_224_676 and facts["llama3-8b"].loaded_size_bytes is None
    fp = cat.footprint(cat.entry_for("llama3-8b", "testnet"), context_length=4096, facts=facts["llama3-8b"])
    assert (fp.weights_bytes, fp.weights_source, fp.kv_source) == (4_661_224_676, "ollama", "ollama_show")
    assert fp.kv_bytes == LLAMA_KV_PER_TOKEN * 4096
    # Loaded at the same context: Ollama's measured resident size wins.
    oss = cat.footprint(cat.entry_for("gpt-oss:20b", "testnet"), context_length=4096, facts=facts["gpt-oss:20b"])
    ps_size = client.ps().models[0].size
    assert (oss.weights_source, oss.total_bytes) == ("ollama_ps", ps_size)
    # At another context the measurement does not apply: weights + KV for that context.
    oss8k = cat.footprint(cat.entry_for("gpt-oss:20b", "testnet"), context_length=8192, facts=facts["gpt-oss:20b"])
    assert oss8k.weights_source == "ollama" and oss8k.kv_bytes == 2 * 24 * 8 * (2880 // 64) * 2 * 8192


def test_kv_shape_from_model_info_variants() -> None:
    info = {"general.architecture": "gemma3", "gemma3.block_count": 26, "gemma3.attention.head_count": 8,
            "gemma3.attention.head_count_kv": [4, 4, 1], "gemma3.attention.key_length": 256}
    assert cat.kv_shape_from_model_info(info) == cat.KVShape(26, 4, 256)
    assert cat.kv_shape_from_model_info({"general.architecture": "x"}) is None
    assert cat.kv_shape_from_model_info({}) is None


# --------------------------------------------------------------------------- fit


def fp(name: str, total: int) -> Footprint:
    return Footprint(name, total, "catalog_disk", 0, "included", 0, 4096, 1)


@pytest.mark.parametrize(
    ("sizes", "available", "kind", "verdict", "headroom", "drop"),
    [
        ([6 * GiB], 24 * GiB, "vram", "fits", 24 * GiB // 10, ()),
        ([6 * GiB, 14 * GiB], 24 * GiB, "vram", "fits", 24 * GiB // 10, ()),  # 20 ≤ 24 − 2.4
        ([6 * GiB, 16 * GiB], 24 * GiB, "vram", "tight", 24 * GiB // 10, ("a",)),  # 22 > 21.6, ≤ 24
        ([6 * GiB, 20 * GiB], 24 * GiB, "vram", "wont_fit", 24 * GiB // 10, ("a",)),
        ([8 * GiB, 20 * GiB, 30 * GiB], 24 * GiB, "vram", "wont_fit", 24 * GiB // 10, ("c", "b")),
        ([4 * GiB], 4 * GiB, "vram", "tight", 512 * 1024**2, ("a",)),  # headroom floor 512 MiB
        ([4 * GiB + 1], 4 * GiB, "vram", "wont_fit", 512 * 1024**2, ("a",)),
        ([8 * GiB], 24 * GiB, "ram", "fits", 6 * GiB, ()),  # CPU: 25 % for OS + Docker
        ([13 * GiB], 16 * GiB, "ram", "tight", 4 * GiB, ("a",)),
        ([12 * GiB], 16 * GiB, "ram", "fits", 4 * GiB, ()),  # exactly usable
        ([], 8 * GiB, "vram", "fits", 8 * GiB // 10, ()),
    ],
)
def test_fit_table(sizes, available, kind, verdict, headroom, drop) -> None:
    fps = [fp(chr(ord("a") + i), s) for i, s in enumerate(sizes)]
    r = fit.check_fit(fps, available, memory_kind=kind)
    assert r.verdict == verdict
    assert r.headroom_bytes == headroom
    assert r.required_bytes == sum(sizes)
    assert r.spare_bytes == available - r.headroom_bytes - sum(sizes)
    assert r.drop == drop
    json.dumps(r.to_dict())


def test_drop_picks_smallest_single_sufficient_and_respects_keep() -> None:
    fps = [fp("big", 20 * GiB), fp("mid", 6 * GiB), fp("small", 2 * GiB)]
    r = fit.check_fit(fps, 24 * GiB)  # 28 GiB vs usable 21.6 → need 6.4 GiB gone
    assert r.verdict == "wont_fit" and r.drop == ("big",)  # mid (6) is not enough
    r = fit.check_fit([fp("big", 18 * GiB), fp("mid", 7 * GiB), fp("small", 2 * GiB)], 24 * GiB)  # need 5.4
    assert r.drop == ("mid",)
    r = fit.check_fit([fp("big", 20 * GiB), fp("mid", 7 * GiB)], 24 * GiB, keep=["mid"])
    assert r.drop == ("big",)
    assert "drop big" in r.message and "short by" in r.message
    assert fit.check_fit([fp("x", 1)], 24 * GiB, headroom_bytes=0).verdict == "fits"


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=200 * GiB), min_size=0, max_size=6),
    extra=st.integers(min_value=0, max_value=200 * GiB),
    available=st.integers(min_value=0, max_value=256 * GiB),
    kind=st.sampled_from(["vram", "unified", "ram"]),
)
def test_adding_a_model_never_improves_the_verdict(sizes, extra, available, kind) -> None:
    order = {"fits": 0, "tight": 1, "wont_fit": 2}
    base = [fp(f"m{i}", s) for i, s in enumerate(sizes)]
    before = fit.check_fit(base, available, memory_kind=kind)
    after = fit.check_fit([*base, fp("new", extra)], available, memory_kind=kind)
    assert order[after.verdict] >= order[before.verdict]
    if before.verdict == "wont_fit":
        assert after.verdict == "wont_fit"
    # The suggested drop always makes the rest fit in the usable memory; nothing is suggested when it fits.
    remaining = [f for f in after.footprints if f.model not in after.drop]
    assert sum(f.total_bytes for f in remaining) <= after.usable_bytes
    assert (after.drop == ()) == (after.verdict == "fits")


def _report(gpus, ram=32 * GiB) -> HardwareReport:
    return HardwareReport("Linux", "x86_64", "cpu", 16, 8, ram, tuple(gpus), (), None, "ok", (), ())


def test_memory_budget_and_fit_models() -> None:
    assert fit.memory_budget(_report([GPU("4090", "nvidia", 24 * GiB, "nvml")])) == ("vram", 24 * GiB)
    apple = GPU("M2 GPU", "apple", 32 * GiB, "sysctl", unified=True, usable_bytes=32 * GiB * 2 // 3)
    assert fit.memory_budget(_report([apple])) == ("unified", 32 * GiB * 2 // 3)
    assert fit.memory_budget(_report([])) == ("ram", 32 * GiB)
    assert fit.memory_budget(_report([GPU("?", "amd", None, "sysfs")])) == ("vram", None)
    assert fit.fit_models(["llama3-8b"], "testnet", _report([GPU("?", "amd", None, "sysfs")])) is None

    r = fit.fit_models(["llama3-8b", "gpt-oss:20b"], "testnet", _report([GPU("4090", "nvidia", 24 * GiB, "nvml")]))
    want = (4_700_000_000 + 512 * 1024**2 + 512 * 1024**2) + (13_000_000_000 + 49152 * 4096 + 512 * 1024**2)
    assert r.required_bytes == want and r.verdict == "fits"
    r = fit.fit_models(["llama3-8b", "glm-4.7-flash"], "testnet", _report([GPU("3060", "nvidia", 12 * GiB, "nvml")]))
    assert r.verdict == "wont_fit" and r.drop == ("glm-4.7-flash",)
