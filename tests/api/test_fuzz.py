"""Property-based fuzzing of every endpoint's inputs against a started devnet agent: never a 5xx.

The agent runs in-process with a real anvil devnet (no worker container: manage_worker=False); the network is
never switched away from devnet, so no request leaves the loopback interface."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tray_agent.api.server import ApiServer
from tray_agent.core.agent import Agent

KINDS = ["start", "stop", "restart", "settle", "withdraw", "deregister", "clear_stuck", "set_models", "speedtest",
         "recover", "top_up", "reinstate", "free_memory", "remove_worker", "devnet_fund", "nope", "../etc", ""]

json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=80)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
field_names = st.sampled_from(["network", "models", "password", "generate", "to", "amount", "force", "confirm",
                               "allow_slash", "max_slash_wei", "id", "webhook_url", "rpc_override", "autostart", "keep_awake",
                               "offline_alert_minutes", "keep_worker", "x"])
bodies = st.dictionaries(field_names, json_values, max_size=5)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    import os

    home = tmp_path_factory.mktemp("fuzz-home")
    os.environ["LCAI_TRAY_HOME"] = str(home)
    from tray_agent.common.paths import Paths

    paths = Paths.for_profile("fuzz")
    agent = Agent(paths, "devnet", secrets_file=home / "secrets.json", manage_worker=False)
    srv = ApiServer(agent)
    agent.api_token = srv.token
    srv.start()
    agent.start()
    agent.ready.wait(60)
    client = httpx.Client(base_url=srv.base_url, headers={"Authorization": f"Bearer {srv.token}"}, timeout=30)
    # a key so that key-dependent endpoints are exercised too
    client.post("/api/onboarding/network", json={"network": "devnet"})
    client.post("/api/onboarding/models", json={"models": ["llama3-8b"]})
    client.post("/api/onboarding/password", json={"generate": True})
    yield client
    client.close()
    agent.stop(keep_worker=True)
    srv.stop()


def _check(r: httpx.Response) -> None:
    assert r.status_code < 500, f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:300]}"
    if r.status_code >= 400:
        err = r.json()["error"]
        assert err["code"] and err["message"]


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])


@SETTINGS
@given(kind=st.sampled_from(KINDS), body=bodies)
def test_ops_never_5xx(live, kind, body):
    body.pop("network", None) if kind == "switch_network" else None
    r = live.post(f"/api/ops/{kind}" if kind else "/api/ops/", json=body)
    _check(r)
    if r.status_code == 202:  # a valid op ran: wait so the next example is not refused as busy
        op = r.json()["op_id"]
        for _ in range(200):
            rec = live.get(f"/api/ops/{op}").json()
            if rec["state"] != "running":
                break


@SETTINGS
@given(path=st.sampled_from(["/api/onboarding/network", "/api/onboarding/models", "/api/onboarding/password",
                             "/api/models/fit", "/api/settings", "/api/shutdown-not-really"]), body=bodies)
def test_posts_never_5xx(live, path, body):
    if path.endswith("/network") and body.get("network") not in (None, "devnet"):
        body["network"] = "x" + str(body["network"])[:10]  # never leave devnet (no traffic off loopback)
    if path == "/api/settings":
        body.pop("rpc_override", None) if not isinstance(body.get("rpc_override"), dict) else None
        if isinstance(body.get("rpc_override"), dict):
            body["rpc_override"] = {k: "http://127.0.0.1:9/" for k in body["rpc_override"]}
        body.pop("autostart", None)  # writes into the real HOME
    _check(live.post(path, json=body))


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_raw_bodies_never_5xx(live, raw):
    _check(live.post("/api/models/fit", content=raw))
    _check(live.post("/api/ops/settle", content=raw))


@SETTINGS
@given(to=st.text(max_size=50) | st.just("0x3a46CA4E7935cD9c57A58741b78028c7B2118cD9"),
       amount=st.text(max_size=30) | st.sampled_from(["max", "1", "1e3", "-1", "0.0000000000000000001"]),
       limit=st.text(max_size=8), kind=st.text(max_size=10))
def test_queries_never_5xx(live, to, amount, limit, kind):
    r = live.get("/api/withdraw/preview", params={"to": to, "amount": amount})
    _check(r)
    assert "ok" in r.json()
    _check(live.get("/api/history", params={"limit": limit, "kind": kind}))
    _check(live.post("/api/login-code", params={"next": to}))


def test_every_get_endpoint_answers(live):
    for path in ["/api/status", "/api/onboarding", "/api/hardware", "/api/models", "/api/history", "/api/history.csv",
                 "/api/earnings", "/api/jobs", "/api/stuck", "/api/keys", "/api/settings"]:
        r = live.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        if path != "/api/history.csv":
            json.loads(r.text)
