"""The shipped scrape config, and a real Prometheus scraping a token-protected listener the documented way."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from conftest import ROOT, need
from fleet.fleet_harness import JOB, RULES, PrometheusProc
from polling import wait_for

from tray_agent.api.metrics_server import MetricsServer
from tray_agent.common.status import Status, WorkerState
from tray_agent.core.metrics_export import build_registry

SCRAPE = ROOT / "installers/fleet/prometheus/prometheus.yml"
TOKEN = "f" * 48


@pytest.fixture(scope="module")
def prometheus_bin() -> None:
    need(shutil.which("prometheus") is not None and shutil.which("promtool") is not None,
         "prometheus and promtool (Debian package prometheus)")


def test_shipped_scrape_config_is_valid(prometheus_bin, tmp_path):
    cfg = yaml.safe_load(SCRAPE.read_text())
    job = cfg["scrape_configs"][0]
    assert job["job_name"] == JOB and job["authorization"]["type"] == "Bearer"
    token = tmp_path / "token"
    token.write_text(TOKEN)
    job["authorization"]["credentials_file"] = str(token)
    cfg["rule_files"] = [str(RULES)]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr


def test_prometheus_sends_the_bearer_token_from_its_credentials_file(prometheus_bin, tmp_path):
    st = Status(state=WorkerState.ONLINE, network="devnet", profile="tok", address="0x" + "1" * 40)
    srv = MetricsServer(build_registry(st.to_dict), "127.0.0.1", 0, token=TOKEN).start()
    good, bad = tmp_path / "good.token", tmp_path / "bad.token"
    good.write_text(TOKEN + "\n")
    bad.write_text("g" * 48)
    target = {"static_configs": [{"targets": [f"127.0.0.1:{srv.port}"]}]}
    jobs = [{"job_name": JOB, "authorization": {"type": "Bearer", "credentials_file": str(good)}, **target},
            {"job_name": "wrong-token", "authorization": {"type": "Bearer", "credentials_file": str(bad)}, **target},
            {"job_name": "no-token", **target}]
    prom = PrometheusProc(tmp_path / "prom", [], None, scrape_configs=jobs).start()
    try:
        def health():
            ts = prom.api("targets")["data"]["activeTargets"]
            got = {t["labels"]["job"]: (t["health"], t.get("lastError", "")) for t in ts}
            return got if len(got) == 3 and all(h != "unknown" for h, _ in got.values()) else None

        got = wait_for(health, timeout=30, interval=0.5, what="three scraped targets")
        assert got[JOB] == ("up", "")
        for job in ("wrong-token", "no-token"):
            assert got[job][0] == "down" and "401" in got[job][1], got
        assert prom.query('lcai_worker_state{state="online", profile="tok"} == 1')
    finally:
        prom.stop()
        srv.stop()
