"""The bad-input catalogue, table-driven, through the API and the CLI of a real devnet agent.

Every case must get a clear error naming the field and the fix (API: 4xx JSON ``error.{code,message,fix,field}``;
CLI: exit code 2 with an ``error:`` and a ``fix:`` line) and change nothing: file hashes of the profile, the
secrets file, the worker's nonce and balance, the destination's balance, the settings and the operation history
are compared before and after.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlencode

import pytest

from tests.badinput.conftest import DEAD, snapshot

pytestmark = [pytest.mark.docker]




class _WrongChain(BaseHTTPRequestHandler):
    """An RPC that answers every call with chain id 1 (mainnet Ethereum): a wrong-chain override."""

    def do_POST(self):  # noqa: N802
        n = int(self.headers.get("Content-Length") or 0)
        req = json.loads(self.rfile.read(n) or b"{}")
        body = json.dumps({"jsonrpc": "2.0", "id": req.get("id", 1), "result": "0x1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def wrong_chain_rpc():
    srv = HTTPServer(("127.0.0.1", 0), _WrongChain)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


OWN = "<own>"
BAD_CK = "0x000000000000000000000000000000000000DEAd"  # mixed case, wrong EIP-55 checksum
W = "/api/ops/withdraw"

# (id, path, body, field) — POST through the API
API_CASES = [
    # addresses
    ("addr_bad_checksum", W, {"to": BAD_CK, "amount": "1"}, "to"),
    ("addr_short", W, {"to": "0x1234", "amount": "1"}, "to"),
    ("addr_zero", W, {"to": "0x" + "0" * 40, "amount": "1"}, "to"),
    ("addr_non_hex", W, {"to": "0x" + "g" * 40, "amount": "1"}, "to"),
    ("addr_no_prefix_garbage", W, {"to": "vitalik.eth", "amount": "1"}, "to"),
    ("addr_own", W, {"to": OWN, "amount": "1"}, "to"),
    ("addr_not_string", W, {"to": 12345, "amount": "1"}, "to"),
    # amounts
    ("amount_negative", W, {"to": DEAD, "amount": "-1"}, "amount"),
    ("amount_zero", W, {"to": DEAD, "amount": "0"}, "amount"),
    ("amount_above_balance", W, {"to": DEAD, "amount": "100000"}, "amount"),
    ("amount_too_many_decimals", W, {"to": DEAD, "amount": "1.0000000000000000001"}, "amount"),
    ("amount_exponent", W, {"to": DEAD, "amount": "1e3"}, "amount"),
    ("amount_exponent_neg", W, {"to": DEAD, "amount": "5E-3"}, "amount"),
    ("amount_huge", W, {"to": DEAD, "amount": "9" * 80}, "amount"),
    ("amount_nan", W, {"to": DEAD, "amount": "nan"}, "amount"),
    ("amount_comma", W, {"to": DEAD, "amount": "1,5"}, "amount"),
    ("amount_hex", W, {"to": DEAD, "amount": "0x10"}, "amount"),
    ("amount_number_type", W, {"to": DEAD, "amount": 1}, "amount"),
    ("amount_max_no_confirm", W, {"to": DEAD, "amount": "max", "confirm": False}, "confirm"),
    ("top_up_negative", "/api/ops/top_up", {"amount": "-5"}, "amount"),
    ("top_up_exponent", "/api/ops/top_up", {"amount": "1e4"}, "amount"),
    ("force_not_bool", W, {"to": DEAD, "amount": "1", "force": "yes"}, "force"),
    # passwords
    ("password_empty", "/api/onboarding/password", {"password": ""}, "password"),
    ("password_short", "/api/onboarding/password", {"password": "short1"}, "password"),
    ("password_non_ascii", "/api/onboarding/password", {"password": "pässwörter-Ünicode-1"}, "password"),
    ("password_very_long", "/api/onboarding/password", {"password": "A1b" * 400}, "password"),
    ("password_space_quote", "/api/onboarding/password", {"password": "has space 'and' $x"}, "password"),
    ("password_not_string", "/api/onboarding/password", {"password": 1234567890123}, "password"),
    # model names
    ("model_unknown", "/api/ops/set_models", {"models": ["no-such-model"]}, "models"),
    ("model_not_whitelisted", "/api/ops/set_models", {"models": ["llama3-70b"]}, "models"),
    ("model_sql_injection", "/api/ops/set_models", {"models": ["llama3-8b'; DROP TABLE operations;--"]}, "models"),
    ("model_shell_injection", "/api/ops/set_models", {"models": ["$(touch /tmp/pwned)"]}, "models"),
    ("model_path_traversal", "/api/onboarding/models", {"models": ["../../../etc/passwd"]}, "models"),
    ("model_newline", "/api/onboarding/models", {"models": ["llama3-8b\nSUPPORTED_MODELS=x"]}, "models"),
    ("model_empty_list", "/api/onboarding/models", {"models": []}, "models"),
    ("model_not_list", "/api/onboarding/models", {"models": "llama3-8b"}, "models"),
    ("model_too_many", "/api/ops/set_models", {"models": ["llama3-8b"] * 17}, "models"),
    ("model_fit_unknown", "/api/models/fit", {"models": ["nope"]}, "models"),
    # RPC override
    ("rpc_non_http", "/api/settings", {"rpc_override": {"devnet": "ftp://127.0.0.1/x"}}, "rpc_override"),
    ("rpc_file_url", "/api/settings", {"rpc_override": {"devnet": "file:///etc/passwd"}}, "rpc_override"),
    ("rpc_unreachable", "/api/settings", {"rpc_override": {"devnet": "<closed>"}}, "rpc_override"),
    ("rpc_wrong_chain_id", "/api/settings", {"rpc_override": {"devnet": "<wrongchain>"}}, "rpc_override"),
    ("rpc_not_a_map", "/api/settings", {"rpc_override": "http://127.0.0.1:8545"}, "rpc_override"),
    ("rpc_unknown_network", "/api/settings", {"rpc_override": {"nonet": "http://127.0.0.1:1"}},
                 "rpc_override"),
    # webhook URL
    ("webhook_ftp", "/api/settings", {"webhook_url": "ftp://example.org/hook"}, "webhook_url"),
    ("webhook_no_scheme", "/api/settings", {"webhook_url": "example.org/hook"}, "webhook_url"),
    ("webhook_javascript", "/api/settings", {"webhook_url": "javascript:alert(1)"}, "webhook_url"),
    ("webhook_space", "/api/settings", {"webhook_url": "http://exa mple.org/"}, "webhook_url"),
    ("webhook_too_long", "/api/settings", {"webhook_url": "https://e.org/" + "a" * 3000}, "webhook_url"),
    ("webhook_not_string", "/api/settings", {"webhook_url": 5}, "webhook_url"),
    # network name
    ("network_unknown", "/api/onboarding/network", {"network": "devnett"}, "network"),
    ("network_upper", "/api/onboarding/network", {"network": "MAINNET"}, "network"),
    ("network_not_string", "/api/onboarding/network", {"network": 5}, "network"),
    ("network_traversal_op", "/api/ops/switch_network", {"network": "../x"}, "network"),
    ("network_in_settings", "/api/settings", {"network": "mainnet"}, "network"),
    # other typed fields
    ("setting_unknown", "/api/settings", {"no_such_setting": 1}, "no_such_setting"),
    ("offline_minutes_negative", "/api/settings", {"offline_alert_minutes": -1}, "offline_alert_minutes"),
    ("autostart_not_bool", "/api/settings", {"autostart": "yes"}, "autostart"),
    ("allow_slash_not_bool", "/api/ops/clear_stuck", {"allow_slash": "true"}, "allow_slash"),
    ("slash_without_amount", "/api/ops/clear_stuck", {"allow_slash": True}, "max_slash_wei"),
    ("slash_amount_float", "/api/ops/clear_stuck", {"allow_slash": True, "max_slash_wei": "1e18"}, "max_slash_wei"),
    ("slash_amount_number", "/api/ops/clear_stuck", {"allow_slash": True, "max_slash_wei": 10}, "max_slash_wei"),
    ("recover_traversal", "/api/ops/recover", {"id": "../../keys"}, "id"),
    ("settle_without_confirm", "/api/ops/settle", {}, "confirm"),
    ("unknown_operation", "/api/ops/rm_rf", {}, "kind"),
]
MONEY = {"/api/ops/withdraw", "/api/ops/top_up", "/api/ops/clear_stuck"}


def _ids(cases):
    return [c.id if hasattr(c, "id") and not isinstance(c, tuple) else c[0] for c in cases]


@pytest.mark.parametrize("case_id,path,body,field", API_CASES, ids=_ids(API_CASES))
def test_api_rejects_bad_input_naming_field_and_fix(stopped_agent, wrong_chain_rpc, case_id, path, body, field):
    a = stopped_agent
    body = json.loads(json.dumps(body))
    if body.get("to") == OWN:
        body["to"] = a.status()["address"]
    for k, v in list(body.get("rpc_override", {}).items()) if isinstance(body.get("rpc_override"), dict) else ():
        body["rpc_override"][k] = {"<closed>": f"http://127.0.0.1:{_closed_port()}",
                                   "<wrongchain>": wrong_chain_rpc}.get(v, v)
    if path in MONEY and "confirm" not in body:
        body["confirm"] = True  # the bad field itself must be what is refused, not the missing confirmation
    before = snapshot(a)
    r = a.post(path, body, timeout=30)
    assert 400 <= r.status < 500, (r.status, r.body)
    err = r.error
    assert err.get("code") and err.get("message"), r.body
    assert err.get("field") == field, f"error names field {err.get('field')!r}, expected {field!r}: {err}"
    assert err.get("fix"), f"no fix in {err}"
    for secret in ("Devnet-Password-1",):
        assert secret not in json.dumps(r.body)
    assert snapshot(a) == before, "a rejected input changed something on disk or on chain"


PREVIEW_CASES = [
    ("preview_bad_checksum", BAD_CK, "1", "to"), ("preview_own", OWN, "1", "to"),
    ("preview_zero_addr", "0x" + "0" * 40, "1", "to"), ("preview_negative", DEAD, "-1", "amount"),
    ("preview_exponent", DEAD, "1e3", "amount"), ("preview_above", DEAD, "100000", "amount"),
    ("preview_empty", DEAD, "", "amount"),
]


@pytest.mark.parametrize("case_id,to,amount,field", PREVIEW_CASES, ids=[c[0] for c in PREVIEW_CASES])
def test_withdraw_preview_reports_the_field(stopped_agent, case_id, to, amount, field):
    a = stopped_agent
    if to == OWN:
        to = a.status()["address"]
    r = a.get("/api/withdraw/preview?" + urlencode({"to": to, "amount": amount}))
    assert r.status == 200 and r.body["ok"] is False, r.body
    assert r.body["error"]["field"] == field and r.body["error"].get("fix"), r.body


def test_malformed_bodies_are_4xx_not_5xx(stopped_agent):
    a = stopped_agent
    before = snapshot(a)
    for raw in (b"{not json", b"[1,2]", b'"text"', b"\xff\xfe\x00", b"{" * 5000, b'{"a":' + b"1" * 70000 + b"}"):
        for path in ("/api/settings", "/api/ops/withdraw", "/api/onboarding/password", "/api/onboarding/models"):
            r = a.request("POST", path, raw=raw)
            assert 400 <= r.status < 500, (path, raw[:20], r.status, r.body)
            assert r.error.get("message") and r.error.get("fix"), (path, raw[:20], r.body)
    assert snapshot(a) == before


# --- CLI ----------------------------------------------------------------------------------------------------
CLI_CASES = [
    ("cli_addr_short", ["withdraw", "--to", "0x1234", "--amount", "1", "--yes"]),
    ("cli_addr_bad_checksum", ["withdraw", "--to", BAD_CK, "--amount", "1", "--yes"]),
    ("cli_addr_own", ["withdraw", "--to", OWN, "--amount", "1", "--yes"]),
    ("cli_amount_exponent", ["withdraw", "--to", DEAD, "--amount", "1e3", "--yes"]),
    ("cli_amount_negative", ["withdraw", "--to", DEAD, "--amount", "-1", "--yes"]),
    ("cli_amount_above", ["withdraw", "--to", DEAD, "--amount", "100000", "--yes"]),
    ("cli_amount_decimals", ["withdraw", "--to", DEAD, "--amount", "0.0000000000000000001", "--yes"]),
    ("cli_top_up_negative", ["top-up", "--amount", "-1", "--yes"]),
    ("cli_model_unknown", ["models", "set", "no-such-model"]),
    ("cli_model_injection", ["models", "set", "llama3-8b;rm -rf ~"]),
    ("cli_recover_traversal", ["keys", "recover", "../../keys"]),
    ("cli_profile_spaces", ["--profile", "Bad Name", "status"]),
    ("cli_profile_traversal", ["--profile", "../other", "status"]),
    ("cli_profile_too_long", ["--profile", "p" * 40, "status"]),
    ("cli_network_unknown", ["--network", "devnett", "status"]),
    ("cli_switch_network_unknown", ["switch-network", "devnett"]),
]


@pytest.mark.parametrize("case_id,args", CLI_CASES, ids=_ids(CLI_CASES))
def test_cli_rejects_bad_input_with_exit_2_and_a_fix(stopped_agent, case_id, args):
    a = stopped_agent
    args = [a.status()["address"] if x == OWN else x for x in args]
    before = snapshot(a)
    dirs_before = sorted(p.name for p in a.home.iterdir())
    r = a.cli(*args, timeout=60)
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-1500:])
    lines = r.stderr.splitlines()
    assert any(ln.startswith("error:") for ln in lines), r.stderr[-1500:]
    assert any(ln.startswith("fix:") and len(ln) > 8 for ln in lines), f"no 'fix:' line: {r.stderr[-1500:]}"
    assert "Traceback" not in r.stderr
    assert snapshot(a) == before
    assert sorted(p.name for p in a.home.iterdir()) == dirs_before, "a bad profile name created a directory"


def test_bad_profile_name_from_environment(stopped_agent):
    a = stopped_agent
    import subprocess

    from tests.harness import PYTHON, ROOT

    env = a.env()
    env["LCAI_TRAY_PROFILE"] = "UPPER/../x"
    r = subprocess.run([PYTHON, "-m", "tray_agent", "status"], env=env, capture_output=True, text=True, timeout=60,
                       cwd=str(ROOT))
    assert r.returncode == 2 and "fix:" in r.stderr, (r.returncode, r.stderr[-1000:])
