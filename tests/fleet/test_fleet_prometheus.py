"""A real fleet of two: two devnet agents (anvil + replicas + simulated worker containers on the private dockerd),
each with a metrics listener, scraped every second by a real Prometheus (Debian package) that evaluates the shipped
alert rules (``for:`` shortened to 3 s). Killing one worker's container and holding it down fires its alert while
the other stays quiet; every PromQL expression of the rules and the Grafana dashboard runs on that server; the
``fleet status`` command reads the same server. Tests run in order and share the fleet."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from agent.agent_harness import cleanup_containers, onboard, wait_for
from conftest import ROOT, need
from fleet.fleet_harness import JOB, RULES, FleetAgent, PrometheusProc, fast_rules, serve_has_metrics_flag

DASHBOARD = ROOT / "installers/fleet/grafana/fleet.json"
PROFILES = ("fleet-a", "fleet-b")
PW = "Fleet-Password-123"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, docker_ready, sim_image, output_dir):
    need(shutil.which("prometheus") is not None, "prometheus (Debian package prometheus)")
    t0 = time.monotonic()
    home = tmp_path_factory.mktemp("fleet-home")
    (output_dir / "fleet").mkdir(parents=True, exist_ok=True)
    modes = ("flag", "env") if serve_has_metrics_flag() else ("env", "sidecar")
    agents = [FleetAgent(home, p, m) for p, m in zip(PROFILES, modes, strict=True)]
    prom = None
    try:
        for a in agents:
            a.client = a.start()
        with ThreadPoolExecutor(2) as pool:  # both onboard at once: one funded, registered, online worker each
            for st in pool.map(lambda a: onboard(a.client, PW), agents):
                assert st["state"] == "online", st
        for a in agents:
            a.start_metrics()
        prom = PrometheusProc(home / "prometheus", [a.target for a in agents],
                              fast_rules(RULES, home / "rules-fast.yml")).start()
        seen: list = []

        def both_online() -> bool:
            seen[:] = [(r["metric"].get("profile"), r["metric"].get("state"))
                       for r in prom.query("lcai_worker_state == 1")]
            return sum(1 for _p, st in seen if st == "online") == 2

        try:
            wait_for(both_online, timeout=60, what="both workers online in Prometheus")
        except AssertionError as e:
            raise AssertionError(f"{e}; Prometheus sees {seen}; targets {prom.api('targets')}") from None
        print(f"\nfleet up in {time.monotonic() - t0:.1f} s (metrics: {', '.join(modes)})")
        yield {"agents": agents, "prom": prom, "modes": modes}
    finally:
        if prom is not None:
            prom.stop()
        keep = output_dir / "fleet"  # logs of this run, kept for a failed run
        keep.mkdir(parents=True, exist_ok=True)
        for f in [*home.glob("*.out"), *home.glob("*/logs/*.log"), *home.glob("prometheus/*.log")]:
            shutil.copy(f, keep / f"{f.parent.parent.name}-{f.name}" if f.parent.name == "logs" else keep / f.name)
        for a in agents:
            if a.proc is not None:
                a.cli("shutdown", "--stop-worker", timeout=60)
            a.stop()
            cleanup_containers(a.container)


def _by_profile(results: list[dict]) -> dict[str, dict]:
    return {r["metric"]["profile"]: r for r in results}


def test_prometheus_scrapes_both_agents(fleet):
    prom = fleet["prom"]
    targets = prom.api("targets")["data"]["activeTargets"]
    assert sorted(t["health"] for t in targets) == ["up", "up"] and {t["labels"]["job"] for t in targets} == {JOB}
    state = _by_profile(prom.query('lcai_worker_state{state="online"} == 1'))
    assert set(state) == set(PROFILES)
    workers = {r["metric"]["worker"] for r in state.values()}
    assert len(workers) == 2 and all(re.fullmatch(r"0x[0-9a-f]{40}", w) for w in workers)
    assert {r["metric"]["network"] for r in state.values()} == {"devnet"}
    stake = _by_profile(prom.query("lcai_worker_stake_lcai"))
    assert {p: float(r["value"][1]) for p, r in stake.items()} == {p: 5000.0 for p in PROFILES}
    # facts only the in-process exporter has (the chain snapshot's offence count); every mode has jobs and gas
    inproc = {a.profile for a in fleet["agents"] if a.mode in ("flag", "env")}
    assert set(_by_profile(prom.query("lcai_worker_offences_total == 0"))) == inproc
    assert set(_by_profile(prom.query("lcai_worker_jobs_completed_total >= 0"))) == set(PROFILES)
    assert set(_by_profile(prom.query("lcai_worker_gas_reserve_lcai == 50"))) == set(PROFILES)
    models = prom.query("lcai_worker_served_model == 1")
    # what the real agents serve passes Prometheus' own linter
    import urllib.request

    for a in fleet["agents"]:
        with urllib.request.urlopen(f"http://{a.target}/metrics", timeout=10) as r:
            text = r.read().decode()
        lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
        assert lint.returncode == 0 and a.profile in text, lint.stdout + lint.stderr
    assert sorted((r["metric"]["profile"], r["metric"]["model"]) for r in models) == \
        [(p, "llama3-8b") for p in PROFILES]


def _rule_exprs() -> list[tuple[str, str]]:
    doc = yaml.safe_load(RULES.read_text())
    return [(r["alert"], r["expr"]) for g in doc["groups"] for r in g["rules"]]


def _dashboard_exprs() -> list[tuple[str, str]]:
    dash = json.loads(DASHBOARD.read_text())
    out = []
    for p in dash["panels"]:
        for t in p.get("targets", []):
            out.append((f"panel {p['id']} {p['title']} {t['refId']}", t["expr"].replace("$network", ".*")))
    return out


def test_dashboard_json_is_a_provisionable_dashboard():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "lcai-fleet" and dash["panels"] and dash["schemaVersion"] >= 36
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    ds = yaml.safe_load((ROOT / "installers/fleet/grafana/provisioning/datasources/lcai-prometheus.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    assert all(p["datasource"]["uid"] == uid and all(t["datasource"]["uid"] == uid for t in p["targets"])
               for p in dash["panels"])
    prov = yaml.safe_load((ROOT / "installers/fleet/grafana/provisioning/dashboards/lcai-fleet.yml").read_text())
    assert prov["providers"][0]["type"] == "file" and prov["providers"][0]["options"]["path"]
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for word in ("state", "jobs per hour", "earn", "stake", "alerts"):
        assert word in titles


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(lcai_worker_[a-z_]+)\b", expr))


def test_every_expression_runs_on_the_server(fleet):
    """Rules and dashboard queries: the server parses and evaluates each one, and every lcai metric each one
    names is really exported by the agents (a typo in a metric name would make a rule silently never fire)."""
    prom = fleet["prom"]
    exprs = _rule_exprs() + _dashboard_exprs()
    assert len(exprs) >= 25
    # the last-job time exists once each worker has served a job (the consumer sends one within a minute or so)
    wait_for(lambda: len(prom.query("lcai_worker_last_job_timestamp_seconds")) == 2, timeout=150,
             what="a served job on both workers")
    exported = {r["metric"]["__name__"] for r in prom.query('{__name__=~"lcai_worker_.+"}')}
    for where, expr in exprs:
        body = prom.api("query", query=expr)
        assert body["status"] == "success", (where, expr, body)
        missing = _metric_names(expr) - exported
        assert not missing, f"{where}: not exported by the agents: {missing}"
    dash_values = [r for _, e in _dashboard_exprs() if "ALERTS" not in e for r in prom.query(e)]
    assert dash_values  # the dashboard shows data for this fleet
    # the dashboard's template variable, as Grafana asks for it
    values = prom.api("label/network/values", **{"match[]": "lcai_worker_state"})["data"]
    assert values == ["devnet"]
    # Prometheus loaded every shipped rule and evaluates it without errors
    rules = [r for g in prom.api("rules")["data"]["groups"] for r in g["rules"]]
    wait_for(lambda: all(r.get("lastEvaluation", "").startswith("20") for r in
                         (x for g in prom.api("rules")["data"]["groups"] for x in g["rules"])), timeout=10,
             what="every rule evaluated")
    rules = [r for g in prom.api("rules")["data"]["groups"] for r in g["rules"]]
    assert sorted(r["name"] for r in rules) == sorted(a for a, _ in _rule_exprs())
    assert all(r["health"] == "ok" and not r.get("lastError") for r in rules), rules


def test_healthy_fleet_is_quiet(fleet):
    prom = fleet["prom"]
    time.sleep(5)  # longer than the shortened `for:` plus two evaluations
    assert prom.firing() == []


def _fleet_cli(fleet, *args: str) -> subprocess.CompletedProcess:
    a = fleet["agents"][0]
    base = ["-m", "tray_agent"] if _cli_wired() else ["-m", "tray_agent.cli_fleet"]
    return subprocess.run([sys.executable, *base, "fleet", "status", "--prometheus", fleet["prom"].url, *args],
                          capture_output=True, text=True, timeout=60, env=a.env, stdin=subprocess.DEVNULL)


def _cli_wired() -> bool:
    r = subprocess.run([sys.executable, "-m", "tray_agent", "--help"], capture_output=True, text=True, timeout=60)
    return "fleet" in r.stdout


def test_fleet_status_table(fleet):
    r = _fleet_cli(fleet)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["HOST", "PROFILE", "STATE", "MODELS", "JOBS/H", "EARNED", "24H", "STAKE", "ALERTS"]
    rows = {ln.split()[1]: ln.split() for ln in lines[1:-1]}
    assert [ln.split()[1] for ln in lines[1:-1]] == sorted(PROFILES)
    for p in PROFILES:
        assert rows[p][0] == "127.0.0.1" and rows[p][2] == "online" and rows[p][3] == "llama3-8b"
        assert rows[p][6] == "5,000" and rows[p][7] == "-"
    assert lines[-1] == "2 workers: 2 online, 0 with alerts"
    j = json.loads(_fleet_cli(fleet, "--json").stdout)
    assert {w["profile"]: w["state"] for w in j["workers"]} == {p: "online" for p in PROFILES}
    assert all(w["stake_lcai"] == 5000.0 and w["alerts"] == [] for w in j["workers"])


def test_fleet_status_errors():
    r = subprocess.run([sys.executable, "-m", "tray_agent.cli_fleet", "fleet", "status", "--prometheus", "ftp://x"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "fix:" in r.stderr
    from tray_agent.core.devnet import free_port

    r = subprocess.run([sys.executable, "-m", "tray_agent.cli_fleet", "fleet", "status", "--prometheus",
                        f"http://127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "cannot reach Prometheus" in r.stderr


def test_killed_worker_fires_its_alert_and_the_other_stays_quiet(fleet, output_dir):
    import docker

    prom = fleet["prom"]
    down, up = fleet["agents"]
    client = docker.from_env()
    stop = threading.Event()
    kills = [0]

    def hold_down() -> None:  # the supervisor restarts it at once: kill it again, and again
        while not stop.is_set():
            try:
                c = client.containers.get(down.container)
                if c.status in ("running", "restarting"):
                    c.kill()
                    kills[0] += 1
            except Exception:
                pass
            stop.wait(0.3)

    t0 = time.monotonic()
    th = threading.Thread(target=hold_down, daemon=True)
    th.start()
    seen_other: list[dict] = []
    try:
        def fired():
            alerts = prom.firing()
            seen_other.extend(a for a in alerts if a["labels"].get("profile") == up.profile)
            return [a for a in alerts if a["labels"]["alertname"] == "LcaiWorkerDown"
                    and a["labels"].get("profile") == down.profile]

        alert = wait_for(fired, timeout=120, interval=0.5, what="LcaiWorkerDown for the killed worker")[0]
        fire_s = time.monotonic() - t0
        assert alert["labels"]["severity"] == "critical" and alert["labels"]["network"] == "devnet"
        assert alert["labels"]["worker"] == down.client.get("/api/status")["address"].lower()
        assert kills[0] >= 1
        # held down a little longer: still firing, the other worker still online and without any alert
        time.sleep(3)
        firing = prom.firing()
        assert any(a["labels"]["alertname"] == "LcaiWorkerDown" and a["labels"]["profile"] == down.profile
                   for a in firing)
        assert not seen_other and not [a for a in firing if a["labels"].get("profile") == up.profile], firing
        assert up.client.get("/api/status")["state"] == "online"
        assert prom.query(f'lcai_worker_state{{state="online", profile="{up.profile}"}} == 1')
        # the fleet table says the same
        j = json.loads(_fleet_cli(fleet, "--json").stdout)
        rows = {w["profile"]: w for w in j["workers"]}
        assert rows[down.profile]["state"] != "online" and "LcaiWorkerDown" in rows[down.profile]["alerts"]
        assert rows[up.profile]["state"] == "online" and rows[up.profile]["alerts"] == []
        table = _fleet_cli(fleet).stdout
        assert "LcaiWorkerDown" in table and table.splitlines()[-1].endswith("1 with alerts")
        print(f"\nLcaiWorkerDown fired {fire_s:.1f} s after the first kill ({kills[0]} kills)")
    finally:
        stop.set()
        th.join(5)
    (output_dir / "fleet" / "fleet-table.txt").write_text(table)  # the README's example, also as a picture
    from fleet.terminal_shot import render

    png = render(f"lcai-tray fleet status --prometheus {fleet['prom'].url}", table,
                 output_dir / "screenshots" / "fleet-status.png")
    assert png.stat().st_size > 5000


def test_unreachable_agent_shows_in_alerts_and_table(fleet):
    prom = fleet["prom"]
    gone = fleet["agents"][0]
    if gone.sidecar is not None:
        gone.sidecar.terminate()
        gone.sidecar.wait(10)
    else:
        gone.kill9()  # the agent and its listener die; the fleet sees the target go down
    wait_for(lambda: [a for a in prom.firing() if a["labels"]["alertname"] == "LcaiAgentUnreachable"
                      and a["labels"]["instance"] == gone.target], timeout=30, interval=0.5,
             what="LcaiAgentUnreachable for the stopped listener")
    j = json.loads(_fleet_cli(fleet, "--json").stdout)
    rows = {w["instance"]: w for w in j["workers"]}
    assert rows[gone.target]["state"] == "unreachable" and "LcaiAgentUnreachable" in rows[gone.target]["alerts"]
    other = fleet["agents"][1]
    assert {w["state"] for w in j["workers"] if w["profile"] == other.profile} == {"online"}
