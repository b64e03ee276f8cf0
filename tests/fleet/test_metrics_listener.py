"""The metrics listener over real loopback HTTP: only GET /metrics, bearer token, exposition that promtool accepts."""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import need
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tray_agent.api.metrics_server import MetricsServer, from_options, parse_listen
from tray_agent.common.errors import ValidationError
from tray_agent.common.status import Alert, Status, WorkerState
from tray_agent.core.metrics_export import build_registry

TOKEN = "t0k3n-" + "x" * 40
ADDR = "0x" + "Ab" * 20


def _status() -> Status:
    return Status(state=WorkerState.ONLINE, network="devnet", profile="gpu0", address=ADDR, registered=True,
                  served_models=("llama3-8b", "qwen2-7b"), stake_wei=5000 * 10**18 + 1, min_stake_wei=5000 * 10**18,
                  wallet_wei=49 * 10**18, escrowed_wei=3 * 10**17, alerts=(Alert.LOW_GAS,), active_jobs=2,
                  last_job_at=1_700_000_000.0, message="secret-ish message /home/u/keys", extra={"drift": [{"x": 1}]})


def _get(url: str, token: str | None = None, method: str = "GET") -> tuple[int, str, dict]:
    req = urllib.request.Request(url, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


@pytest.fixture
def open_server():
    reg = build_registry(lambda: _status().to_dict(), lambda: {"restarts": 3, "jobs_completed": 7,
                                                                "gas_reserve_wei": 50 * 10**18})
    srv = MetricsServer(reg, "127.0.0.1", 0).start()
    yield srv
    srv.stop()


@pytest.fixture
def token_server():
    reg = build_registry(lambda: _status().to_dict())
    srv = MetricsServer(reg, "127.0.0.1", 0, token=TOKEN).start()
    yield srv
    srv.stop()


def _families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_metrics_values_and_labels(open_server):
    code, body, headers = _get(open_server.url)
    assert code == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    fam = _families(body)
    labels = {"network": "devnet", "worker": ADDR.lower(), "profile": "gpu0"}
    state = {s.labels["state"]: s.value for s in fam["lcai_worker_state"].samples}
    assert state["online"] == 1 and sum(state.values()) == 1 and set(state) == {s.value for s in WorkerState}
    assert all({k: s.labels[k] for k in labels} == labels for f in fam.values() for s in f.samples
               if not f.name.startswith("lcai_worker_build"))
    alerts = {s.labels["alert"]: s.value for s in fam["lcai_worker_alert"].samples}
    assert alerts["low_gas"] == 1 and alerts["crash_loop"] == 0
    assert fam["lcai_worker_stake_lcai"].samples[0].value == pytest.approx(5000.0)
    assert fam["lcai_worker_min_stake_lcai"].samples[0].value == 5000.0
    assert fam["lcai_worker_wallet_balance_lcai"].samples[0].value == 49.0
    assert fam["lcai_worker_gas_reserve_lcai"].samples[0].value == 50.0
    assert fam["lcai_worker_escrowed_lcai"].samples[0].value == pytest.approx(0.3)
    assert fam["lcai_worker_jobs_running"].samples[0].value == 2
    assert fam["lcai_worker_restarts"].samples[0].value == 3  # counter family: sample is *_total
    assert fam["lcai_worker_restarts"].samples[0].name == "lcai_worker_restarts_total"
    assert fam["lcai_worker_jobs_completed"].samples[0].value == 7
    assert fam["lcai_worker_last_job_timestamp_seconds"].samples[0].value == 1_700_000_000.0
    assert fam["lcai_worker_self_check_problems"].samples[0].value == 1
    assert {s.labels["model"] for s in fam["lcai_worker_served_model"].samples} == {"llama3-8b", "qwen2-7b"}
    assert next(f for n, f in fam.items() if n.startswith("lcai_worker_build")).samples[0].labels["version"]
    # facts not given are absent, not a made-up zero
    assert "lcai_worker_offences" not in fam and "lcai_worker_crash_loops" not in fam
    assert "secret-ish" not in body and "/home/u" not in body


def test_exposition_passes_promtool_lint(open_server):
    need(shutil.which("promtool") is not None, "promtool (Debian package prometheus)")
    body = _get(open_server.url)[1]
    r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("path", ["/", "/api/status", "/api/ops/settle", "/ui/dashboard.html", "/auth",
                                  "/metrics/", "/metricsx", "/api/keys", "/../metrics", "/favicon.ico"])
def test_every_other_path_is_404(open_server, token_server, path):
    base = open_server.url.removesuffix("/metrics")
    assert _get(base + path)[0] == 404
    tbase = token_server.url.removesuffix("/metrics")
    assert _get(tbase + path, TOKEN)[0] == 404
    assert _get(tbase + path)[0] == 401  # no token: nothing is revealed, not even which paths exist


def test_actions_are_refused(open_server, token_server):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert _get(open_server.url, method=method)[0] == 405
        assert _get(token_server.url, TOKEN, method=method)[0] == 405
        assert _get(token_server.url, method=method)[0] == 401


@pytest.mark.parametrize("header", [None, "", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "x" * len(TOKEN)])
def test_missing_or_bad_token_is_401(token_server, header):
    code, body, headers = _get(token_server.url, header)
    assert code == 401 and "lcai_worker" not in body and headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_wrong_scheme_is_401(token_server):
    req = urllib.request.Request(token_server.url, headers={"Authorization": f"Basic {TOKEN}"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 401


def test_good_token_gets_metrics(token_server):
    code, body, _ = _get(token_server.url, TOKEN)
    assert code == 200 and "lcai_worker_state{" in body


def test_non_loopback_needs_token(tmp_path: Path):
    reg = build_registry(lambda: _status().to_dict())
    with pytest.raises(ValidationError) as e:
        from_options(reg, "0.0.0.0:0", None)
    assert e.value.field == "metrics_token_file"
    weak = tmp_path / "weak"
    weak.write_text("short\n")
    with pytest.raises(ValidationError):
        from_options(reg, "0.0.0.0:0", weak)
    with pytest.raises(ValidationError):
        from_options(reg, None, weak)  # a token without a listener is a mistake, not silently ignored
    good = tmp_path / "token"
    good.write_text(TOKEN + "\n")
    srv = from_options(reg, "0.0.0.0:0", good)
    try:
        assert srv is not None and srv.token == TOKEN
        assert _get(f"http://127.0.0.1:{srv.port}/metrics")[0] == 401
        assert _get(f"http://127.0.0.1:{srv.port}/metrics", TOKEN)[0] == 200
    finally:
        srv.stop()
    assert from_options(reg, None, None) is None  # off by default


@pytest.mark.parametrize("value,expected", [("127.0.0.1:9464", ("127.0.0.1", 9464)), (":9464", ("127.0.0.1", 9464)),
                                            ("[::1]:9464", ("::1", 9464)), ("localhost:1", ("localhost", 1))])
def test_parse_listen(value, expected):
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["9464", "127.0.0.1:", "127.0.0.1:99999", "host:port"])
def test_parse_listen_rejects(value):
    with pytest.raises(ValidationError):
        parse_listen(value)


def test_status_failure_is_visible_not_500():
    def broken():
        raise ConnectionError("agent gone")

    srv = MetricsServer(build_registry(broken), "127.0.0.1", 0).start()
    try:
        code, body, _ = _get(srv.url)
        fam = _families(body)
        assert code == 200 and fam["lcai_worker_status_ok"].samples[0].value == 0
        assert "lcai_worker_state" not in fam
    finally:
        srv.stop()


def test_agent_refuses_bad_metrics_options_before_starting(tmp_path):
    """run_agent with a bad listener option: exit code 2 with error/fix, and no Agent was ever constructed
    (three calls in one process: one interpreter start instead of three)."""
    import os
    import socket
    import sys

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cases = [{"metrics_listen": "0.0.0.0:0"}, {"metrics_listen": "127.0.0.1:not-a-port"},
                 {"metrics_listen": f"127.0.0.1:{busy.getsockname()[1]}"}]
        code = ("import os, sys; from tray_agent.serve import run_agent\n"
                f"for kw in {cases!r}:\n"
                "    print('rc', run_agent(**kw), file=sys.stderr, flush=True)\n"
                "os.environ['LCAI_METRICS_LISTEN'] = '0.0.0.0:0'\n"  # the systemd drop-in way
                "print('rc', run_agent(), file=sys.stderr, flush=True)\n")
        env = {**os.environ, "LCAI_TRAY_HOME": str(tmp_path / "home"), "LCAI_TRAY_PROFILE": "metrics"}
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("rc 2") == 4 and r.stderr.count("fix:") == 4, r.stderr
    for text in ("needs a bearer token", "bad port", "cannot listen for metrics"):
        assert text in r.stderr
    assert r.stderr.count("needs a bearer token") == 2
    assert not list((tmp_path / "home").rglob("history.sqlite"))  # the agent was never constructed


def test_cli_side_imports_stay_light():
    """The CLI parser (and so the tray at every start) imports metrics_options and cli_fleet: they may not pull
    an HTTP stack, prometheus_client or anything heavy; the listener module itself stays free of prometheus_client
    until it serves."""
    import sys

    heavy = ("prometheus_client", "web3", "docker", "starlette", "http.server", "http.client", "urllib.request",
             "email", "ssl")
    code = ("import sys; import tray_agent.api.metrics_options, tray_agent.cli_fleet; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
    code = "import sys, tray_agent.api.metrics_server; print('prometheus_client' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False", r.stdout + r.stderr


def test_unknown_minimum_stake_is_absent_not_zero():
    st = Status(state=WorkerState.ONLINE, network="devnet", address=ADDR, stake_wei=10**18)
    fam = _families(generate_latest(build_registry(st.to_dict)).decode())
    assert "lcai_worker_min_stake_lcai" not in fam and fam["lcai_worker_stake_lcai"].samples[0].value == 1.0
    fam = _families(generate_latest(build_registry(st.to_dict, lambda: {"min_stake_wei": 5 * 10**21})).decode())
    assert fam["lcai_worker_min_stake_lcai"].samples[0].value == 5000.0
