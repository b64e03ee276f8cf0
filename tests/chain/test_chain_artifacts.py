"""Committed artifacts match the Solidity sources, and the replicas expose the exact worker ABI."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import need
from tray_agent.core.chain.abi import ARTIFACT_NAMES, artifact, decode_error, error_selector, worker_abi

ROOT = Path(__file__).resolve().parents[2]


def _compiler():
    spec = importlib.util.spec_from_file_location("compile_contracts", ROOT / "scripts" / "compile_contracts.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def test_artifacts_up_to_date():
    need(shutil.which("node") is not None and (ROOT / ".tools" / "node_modules" / "solc").exists(),
         "node + solc (bash scripts/bootstrap.sh) to recompile the contracts")
    comp = _compiler()
    fresh = comp.compile_sources()
    assert set(fresh) == set(ARTIFACT_NAMES.values())
    assert comp.diff_against_committed(fresh) == [], "run: python scripts/compile_contracts.py"


def test_stale_artifact_is_detected(tmp_path):
    comp = _compiler()
    art = {name: artifact(name) for name in ARTIFACT_NAMES.values()}
    for name, a in art.items():
        (tmp_path / f"{name}.json").write_text(comp.render(a))
    assert comp.diff_against_committed(art, tmp_path) == []
    changed = dict(art["AIConfigReplica"], sourceSha256="0" * 64)
    assert comp.diff_against_committed(dict(art, AIConfigReplica=changed), tmp_path) == ["AIConfigReplica"]


def test_artifact_source_hash_matches_source():
    import hashlib

    for name in ARTIFACT_NAMES.values():
        a = artifact(name)
        assert a["solcVersion"].startswith("0.8.28+")
        assert a["sourceSha256"] == hashlib.sha256((ROOT / a["sourceFile"]).read_bytes()).hexdigest()
        assert a["deployedBytecode"].startswith("0x") and len(a["deployedBytecode"]) > 1000


def _norm(p: dict) -> dict:
    d = {"type": p["type"], "name": p.get("name", "")}
    if "components" in p:
        d["components"] = [_norm(c) for c in p["components"]]
    if "indexed" in p:
        d["indexed"] = p["indexed"]
    return d


@pytest.mark.parametrize("contract", list(ARTIFACT_NAMES))
def test_replica_matches_worker_abi(contract):
    """Every function/event/error of the spec ABI exists in the replica with identical types and mutability."""
    have = {}
    for item in artifact(ARTIFACT_NAMES[contract])["abi"]:
        have[(item["type"], item.get("name"), json.dumps([_norm(i) for i in item.get("inputs", [])]))] = item
    missing = []
    for item in worker_abi()[contract]:
        key = (item["type"], item.get("name"), json.dumps([_norm(i) for i in item.get("inputs", [])]))
        got = have.get(key)
        if got is None:
            missing.append(f"{item['type']} {item.get('name')}")
            continue
        if item["type"] == "function":
            assert [_norm(o) for o in item["outputs"]] == [_norm(o) for o in got["outputs"]], item["name"]
            assert item["stateMutability"] == got["stateMutability"], item["name"]
    assert missing == []


def test_spec_selectors():
    assert error_selector("DisputeWindowNotElapsed") == "0x98f5b6c5"
    assert error_selector("ActiveJobsExist") == "0x592f994b"
    assert error_selector("NoBalanceToWithdraw") == "0xe06b2da5"
    data = "0x98f5b6c5" + f"{7:064x}" + f"{1_900_000_000:064x}" + f"{1_899_999_000:064x}"
    d = decode_error(data)
    assert d is not None and d.name == "DisputeWindowNotElapsed"
    assert d.args == {"jobId": 7, "windowEnd": 1_900_000_000, "currentTime": 1_899_999_000}
    assert decode_error("0xdeadbeef").name == ""  # unknown selector is tolerated
    assert decode_error("0x") is None
