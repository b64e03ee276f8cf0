"""API security matrix against the real server on 127.0.0.1 (uvicorn), with a real Agent (not started)."""

import json
import stat

import httpx
import pytest

from tray_agent.api.server import ApiServer
from tray_agent.core.agent import Agent


@pytest.fixture
def server(paths, tmp_path):
    agent = Agent(paths, "devnet", secrets_file=tmp_path / "secrets.json")
    srv = ApiServer(agent)
    agent.api_token = srv.token
    srv.start()
    yield srv
    srv.stop()
    agent.history.close()


def _url(srv, path="/api/status"):
    return f"http://127.0.0.1:{srv.port}{path}"


def _auth(srv):
    return {"Authorization": f"Bearer {srv.token}"}


def test_token_file_is_private_and_complete(server, paths):
    info = json.loads(paths.api_file.read_text())
    assert info["port"] == server.port and info["token"] == server.token
    assert stat.S_IMODE(paths.api_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.runtime.stat().st_mode) == 0o700


def test_no_token_is_401(server):
    r = httpx.get(_url(server))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = httpx.get(_url(server), headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


def test_with_token_ok(server):
    r = httpx.get(_url(server), headers=_auth(server))
    assert r.status_code == 200 and r.json()["network"] == "devnet"


@pytest.mark.parametrize("host", ["evil.example:80", "attacker.com", "127.0.0.1:1", "localhost", "0.0.0.0"])
def test_foreign_host_rejected(server, host):
    r = httpx.get(_url(server), headers={**_auth(server), "Host": host})
    assert r.status_code == 421 and r.json()["error"]["code"] == "bad_host"


def test_localhost_host_allowed(server):
    r = httpx.get(_url(server), headers={**_auth(server), "Host": f"localhost:{server.port}"})
    assert r.status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1"])
def test_cross_origin_post_forbidden(server, origin):
    r = httpx.post(_url(server, "/api/ops/settle"), headers={**_auth(server), "Origin": origin}, json={})
    assert r.status_code == 403 and r.json()["error"]["code"] == "bad_origin"


def test_same_origin_post_passes_security(server):
    r = httpx.post(_url(server, "/api/models/fit"),
                   headers={**_auth(server), "Origin": f"http://127.0.0.1:{server.port}"}, json={"models": 5})
    assert r.status_code == 400 and r.json()["error"]["field"] == "models"


def test_login_code_sets_cookie_once(server):
    code = httpx.post(_url(server, "/api/login-code"), headers=_auth(server)).json()
    assert code["url"].startswith(f"http://127.0.0.1:{server.port}/auth?code=")
    with httpx.Client() as c:
        r = c.get(code["url"], follow_redirects=False)
        assert r.status_code == 303 and "lcai_session" in r.cookies
        assert "httponly" in r.headers["set-cookie"].lower() and "samesite=strict" in r.headers["set-cookie"].lower()
        assert c.get(_url(server)).status_code == 200  # cookie works
        # cookie-only POST without Origin is refused (CSRF guard)
        assert c.post(_url(server, "/api/ops/settle"), json={}).status_code == 403
    again = httpx.get(code["url"], follow_redirects=False)
    assert again.status_code == 401 and again.json()["error"]["code"] == "bad_login_code"


def test_open_redirect_blocked(server):
    code = httpx.post(_url(server, "/api/login-code"), headers=_auth(server)).json()["code"]
    r = httpx.get(_url(server, f"/auth?code={code}&next=//evil.example/x"), follow_redirects=False)
    assert r.headers["location"] == "/ui/dashboard.html"


def test_static_ui_needs_auth(server):
    r = httpx.get(_url(server, "/ui/dashboard.html"))
    assert r.status_code == 401 and "lcai-tray open" in r.text and r.headers["content-type"].startswith("text/html")


def test_errors_are_json_with_stable_codes(server):
    r = httpx.post(_url(server, "/api/onboarding/network"), headers=_auth(server), content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"
    r = httpx.post(_url(server, "/api/onboarding/network"), headers=_auth(server), json={"network": "moon"})
    assert r.json()["error"]["field"] == "network"
    r = httpx.get(_url(server, "/api/ops/doesnotexist"), headers=_auth(server))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.post(_url(server, "/api/ops/launch_rockets"), headers=_auth(server), json={})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"
