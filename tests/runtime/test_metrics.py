"""Metrics parsing with prometheus-client and log-derived connection state."""

from __future__ import annotations

from tray_agent.core.runtime import metrics

TEXT = """# HELP worker_active_jobs In-flight jobs.
# TYPE worker_active_jobs gauge
worker_active_jobs 1
# TYPE worker_max_jobs gauge
worker_max_jobs 2
# TYPE worker_jobs_total counter
worker_jobs_total{outcome="ok",reason="",model="llama3-8b",tier="standard",delivery="stream"} 7
worker_jobs_total{outcome="error",reason="ollama_timeout",model="llama3-8b",tier="standard",delivery="stream"} 2
worker_jobs_total{outcome="panic",reason="panic",model="llama3-8b",tier="standard",delivery="stream"} 1
# TYPE worker_release_pending gauge
worker_release_pending 3
# TYPE worker_release_failed_total counter
worker_release_failed_total 5
# TYPE worker_heartbeat_last_emit_timestamp_seconds gauge
worker_heartbeat_last_emit_timestamp_seconds 0
"""


def test_parse_metrics():
    m = metrics.parse_metrics(TEXT)
    assert (m.active_jobs, m.max_jobs, m.jobs_ok, m.jobs_error, m.release_pending) == (1, 2, 7.0, 3.0, 3)
    assert m.release_failed == 5.0  # a release counter, never a job failure (LightNode's regex bug)


def test_log_signals_connect_disconnect_and_errors():
    lines = [
        '{"level":"info","msg":"worker registration validated - on-chain key matches local key"}',
        '{"level":"info","msg":"authenticated with worker-gateway"}',
        '{"level":"info","msg":"gateway stream connected"}',
        '{"level":"info","msg":"worker sidecar running (sortition mode) — waiting for shutdown signal"}',
    ]
    s = metrics.LogSignals().feed(lines)
    assert s.gateway_connected and s.service_running and not s.last_error
    s.feed(['{"level":"warn","msg":"gateway stream disconnected","error":"eof"}'])
    assert not s.gateway_connected
    s.feed(['{"level":"error","msg":"validate registration","error":"worker 0xabc is not registered on-chain"}'])
    assert "not registered on-chain" in s.last_error
    s.feed(["not json at all", ""])
    assert s.last_msg == "not json at all"


def test_online_never_depends_on_heartbeat_gauge():
    snap = metrics.parse_metrics(TEXT)
    logs = metrics.LogSignals().feed(['{"msg":"gateway stream connected"}'])
    h = metrics.WorkerHealth(True, snap, logs.gateway_connected, logs.service_running, expects_gateway=True)
    assert h.connected and h.active_jobs == 1
    assert not metrics.WorkerHealth(False, snap, True, True, expects_gateway=True).connected
    # devnet (no gateway): the service-running line is enough
    assert metrics.WorkerHealth(True, snap, False, True, expects_gateway=False).connected
    assert not metrics.WorkerHealth(True, snap, False, True, expects_gateway=True).connected


def test_fetch_unreachable():
    ok, snap, err = metrics.fetch_metrics("http://127.0.0.1:1", timeout=1)
    assert not ok and snap is None and err
