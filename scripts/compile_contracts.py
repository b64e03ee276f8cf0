#!/usr/bin/env python3
"""Compile contracts/*.sol with solc 0.8.28 (npm ``solc`` in .tools) and write the committed artifacts.

Usage: python scripts/compile_contracts.py [--check]

Writes ``tray_agent/core/chain/artifacts/<Contract>.json`` with abi, bytecode, deployedBytecode, the solc
version and the sha256 of the source, so the runtime needs no compiler. ``--check`` compiles and exits 1
when the committed artifacts differ (the test suite runs the same comparison).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "contracts"
ARTIFACTS = ROOT / "tray_agent" / "core" / "chain" / "artifacts"
SOLC_VERSION = "0.8.28"
SETTINGS = {
    "optimizer": {"enabled": True, "runs": 200},
    "viaIR": True,
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "none", "appendCBOR": False},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}

_NODE_SCRIPT = r"""
const solc = require('solc');
let input = '';
process.stdin.on('data', d => input += d);
process.stdin.on('end', () => {
  const out = solc.compile(input);
  process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(out)}));
});
"""


def _node() -> str:
    node = shutil.which("node")
    if not node:
        raise SystemExit("node not found: run `bash scripts/bootstrap.sh` (installs nodejs and solc into .tools/)")
    return node


def compile_sources(sources_dir: Path = SOURCES) -> dict[str, dict]:
    """Compile every .sol file; return {ContractName: artifact dict}."""
    files = sorted(sources_dir.glob("*.sol"))
    if not files:
        raise SystemExit(f"no .sol files in {sources_dir}")
    std_input = {
        "language": "Solidity",
        "sources": {f.name: {"content": f.read_text()} for f in files},
        "settings": SETTINGS,
    }
    modules = ROOT / ".tools" / "node_modules"
    if not (modules / "solc").exists():
        raise SystemExit("solc npm package missing in .tools/node_modules: run `bash scripts/bootstrap.sh`")
    env = dict(os.environ, NODE_PATH=str(modules))
    proc = subprocess.run(
        [_node(), "-e", _NODE_SCRIPT], input=json.dumps(std_input), capture_output=True, text=True,
        env=env, cwd=str(ROOT), timeout=300, check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"solc failed: {proc.stderr.strip()[:2000]}")
    result = json.loads(proc.stdout)
    version = result["version"]
    if not version.startswith(SOLC_VERSION + "+"):
        raise SystemExit(f"expected solc {SOLC_VERSION}, got {version}")
    output = result["output"]
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise SystemExit("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    artifacts: dict[str, dict] = {}
    for f in files:
        src_hash = hashlib.sha256(f.read_bytes()).hexdigest()
        for name, c in output["contracts"].get(f.name, {}).items():
            if not c["evm"]["bytecode"]["object"]:
                continue  # interfaces
            artifacts[name] = {
                "contractName": name,
                "sourceFile": f"contracts/{f.name}",
                "sourceSha256": src_hash,
                "solcVersion": version,
                "settings": {k: v for k, v in SETTINGS.items() if k != "outputSelection"},
                "abi": c["abi"],
                "bytecode": "0x" + c["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
            }
    return artifacts


def render(artifact: dict) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def diff_against_committed(artifacts: dict[str, dict], out_dir: Path = ARTIFACTS) -> list[str]:
    """Names of artifacts that are missing, stale or extra in ``out_dir``."""
    problems = []
    for name, art in artifacts.items():
        path = out_dir / f"{name}.json"
        if not path.exists() or path.read_text() != render(art):
            problems.append(name)
    for path in out_dir.glob("*.json"):
        if path.stem not in artifacts:
            problems.append(path.stem)
    return sorted(problems)


def main(argv: list[str]) -> int:
    artifacts = compile_sources()
    if "--check" in argv:
        stale = diff_against_committed(artifacts)
        if stale:
            print("stale artifacts: " + ", ".join(stale) + " (run python scripts/compile_contracts.py)")
            return 1
        print("artifacts up to date")
        return 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for path in ARTIFACTS.glob("*.json"):
        if path.stem not in artifacts:
            path.unlink()
    for name, art in artifacts.items():
        (ARTIFACTS / f"{name}.json").write_text(render(art))
        print(f"wrote {ARTIFACTS.relative_to(ROOT)}/{name}.json ({(len(art['deployedBytecode']) - 2) // 2} bytes runtime)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
