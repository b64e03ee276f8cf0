"""Alert rules under promtool: syntax, the unit tests in rules_test.yml, and that each rule is really tested."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, need

RULES = ROOT / "installers/fleet/prometheus/rules.yml"
TESTS = Path(__file__).with_name("rules_test.yml")
ALERTS = [r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]
REQUIRED = {"LcaiWorkerDown", "LcaiWorkerPausedWithSessions", "LcaiWorkerSuspended", "LcaiWorkerUnderstaked",
            "LcaiWorkerGasLow", "LcaiWorkerStuckJobs", "LcaiWorkerCrashLoop", "LcaiWorkerIdleWhileOthersEarn",
            "LcaiProtocolDrift"}


@pytest.fixture(scope="module")
def promtool() -> str:
    need(shutil.which("promtool") is not None, "promtool (Debian package prometheus)")
    return "promtool"


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, cwd=cwd)


def test_rules_are_valid(promtool):
    r = _run(promtool, "check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(ALERTS)} rules found" in r.stdout
    assert REQUIRED <= set(ALERTS)


def test_promtool_unit_tests_pass(promtool):
    r = _run(promtool, "test", "rules", str(TESTS))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_every_alert_has_a_firing_case():
    cases = yaml.safe_load(TESTS.read_text())["tests"]
    firing = {t["alertname"] for c in cases for t in c["alert_rule_test"] if t.get("exp_alerts")}
    assert firing == set(ALERTS)


@pytest.mark.parametrize("alert", ALERTS)
def test_unit_tests_catch_a_broken_rule(promtool, tmp_path, alert):
    """Replace one rule's expression with `vector(0) == 1` (never fires): promtool test must now fail."""
    doc = yaml.safe_load(RULES.read_text())
    for g in doc["groups"]:
        for r in g["rules"]:
            if r.get("alert") == alert:
                r["expr"] = "vector(0) == 1"
    broken = tmp_path / "installers/fleet/prometheus"
    broken.mkdir(parents=True)
    (broken / "rules.yml").write_text(yaml.safe_dump(doc))
    (tmp_path / "tests/fleet").mkdir(parents=True)
    shutil.copy(TESTS, tmp_path / "tests/fleet/rules_test.yml")
    r = _run(promtool, "test", "rules", "tests/fleet/rules_test.yml", cwd=tmp_path)
    assert r.returncode != 0 and alert in r.stdout + r.stderr
