"""ChainClient: one-request snapshot, chain-id refusal before signing, typed RPC failures, self-check, reverts."""

from __future__ import annotations

import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tray_agent.common.amounts import format_lcai
from tray_agent.core.chain import ChainClient, RpcBadResponse, RpcTimeout, RpcUnavailable, WrongChain
from tray_agent.core.chain.errors import CallReverted
from tray_agent.core.chain.ops import OpContext, protocol_self_check
from tray_agent.core.chain.revert import explain
from tray_agent.core.devnet import free_port


class _Server:
    """Loopback HTTP server; ``mode`` = proxy (to ``target``, counting requests) | junk | hang."""

    def __init__(self, mode: str, target: str = ""):
        outer = self
        self.count = 0
        self.bodies: list[bytes] = []

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.count += 1
                outer.bodies.append(body)
                if mode == "hang":
                    time.sleep(3)
                    return
                if mode == "junk":
                    out, ctype = b"<html>502 Bad Gateway</html>", "text/html"
                else:
                    req = urllib.request.Request(target, data=body, headers={"Content-Type": "application/json"})
                    out, ctype = urllib.request.urlopen(req, timeout=10).read(), "application/json"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def proxy(devnet):
    s = _Server("proxy", devnet.rpc_url)
    yield s
    s.close()


def test_snapshot_is_one_http_request(chain, proxy):
    w = chain.new_worker()
    chain.register(w)
    chain.completed_job(w)
    client = ChainClient(chain.network, proxy.url)
    before = proxy.count
    snap = client.snapshot(w.address, ["llama3-8b", "gpt-oss:20b", "unknown-model"])
    assert proxy.count - before == 1
    assert proxy.bodies[-1].startswith(b"[")  # a JSON-RPC batch
    assert snap.registered and snap.stake_wei == snap.min_stake_wei == 5000 * 10**18
    assert snap.active_jobs == 1 and snap.served_models == ("llama3-8b",)
    assert snap.funding_threshold_wei == snap.min_stake_wei + chain.network.gas_buffer_wei
    assert snap.chain_id == 31337 and snap.dispute_window_s == 60 and snap.block_timestamp > 0
    fees = {m.name: m for m in snap.models}
    assert fees["gpt-oss:20b"].fee_wei == 40 * 10**15 and fees["gpt-oss:20b"].enabled and not fees["gpt-oss:20b"].served
    assert not fees["unknown-model"].whitelisted and fees["llama3-8b"].eligible
    assert snap.encryption_key == "0x" + w.ecdh.hex()
    d = snap.to_dict()
    assert d["stake_wei"] == str(5000 * 10**18) and d["served_models"] == ["llama3-8b"]
    # the same through a request hook: one HTTP request per snapshot
    seen = []
    hooked = ChainClient(chain.network, on_request=seen.append)
    hooked.snapshot(w.address)
    assert len(seen) == 1 and isinstance(seen[0], list) and len(seen[0]) > 10


def test_snapshot_resolves_wiring_from_predeploy(chain):
    net = chain.network.replace(ai_config="", job_registry="")
    seen = []
    c = ChainClient(net, on_request=seen.append)
    c.snapshot(chain.dn.user_wallet[0])
    assert len(seen) == 2  # wiring once, then one batch
    c.snapshot(chain.dn.user_wallet[0])
    assert len(seen) == 3
    assert c.job_registry.address == chain.dn.addresses["JobRegistry"]


def test_wrong_chain_refused_before_signing(chain, monkeypatch):
    w = chain.new_worker()
    wrong = chain.network.replace(chain_id=8200, label="LightChain testnet")
    with pytest.raises(WrongChain) as ei:
        ChainClient(wrong).snapshot(w.address)
    assert ei.value.expected == 8200 and ei.value.actual == 31337
    signed = []
    import eth_account

    real = eth_account.Account.sign_transaction
    monkeypatch.setattr(eth_account.Account, "sign_transaction",
                        staticmethod(lambda *a, **k: signed.append(1) or real(*a, **k)))
    ctx = OpContext.create(wrong, w.key)
    nonce = chain.client.nonce(w.address)
    with ctx.gate.session(), pytest.raises(WrongChain):
        ctx.sender.send(w.address, "0x", 1)
    assert signed == [] and chain.client.nonce(w.address) == nonce


def test_rpc_refused_is_typed():
    port = free_port()  # nothing listens there
    from tray_agent.core.networks import get_network

    c = ChainClient(get_network("devnet").replace(rpc_url=f"http://127.0.0.1:{port}"), timeout_s=2)
    with pytest.raises(RpcUnavailable) as ei:
        c.chain_id()
    assert ei.value.code == "rpc_unavailable" and str(port) in ei.value.message
    with pytest.raises(RpcUnavailable):
        c.snapshot("0x" + "11" * 20)


def test_rpc_timeout_and_junk_are_typed():
    from tray_agent.core.networks import get_network

    hang, junk = _Server("hang"), _Server("junk")
    try:
        c = ChainClient(get_network("devnet").replace(rpc_url=hang.url), timeout_s=0.5)
        with pytest.raises(RpcTimeout):
            c.chain_id()
        c = ChainClient(get_network("devnet").replace(rpc_url=junk.url))
        with pytest.raises(RpcBadResponse) as ei:
            c.snapshot("0x" + "11" * 20)
        assert ei.value.code == "rpc_bad_response"
    finally:
        hang.close()
        junk.close()


def test_rpc_url_secrets_not_in_messages():
    from tray_agent.core.networks import get_network

    port = free_port()
    c = ChainClient(get_network("devnet").replace(rpc_url=f"http://user:s3cret@127.0.0.1:{port}/rpc?apikey=TOPSECRET"))
    with pytest.raises(RpcUnavailable) as ei:
        c.chain_id()
    assert "s3cret" not in str(ei.value) and "TOPSECRET" not in str(ei.value)


def test_empty_rpc_url_is_typed():
    from tray_agent.core.networks import get_network

    with pytest.raises(RpcUnavailable):
        ChainClient(get_network("devnet"))


def test_self_check_ok_and_drift(chain):
    ok = protocol_self_check(chain.client)
    assert ok.ok and ok.ai_config == chain.dn.addresses["AIConfig"] and ok.sortition_enabled is False
    drifted = chain.network.replace(job_registry="0x531b3A87c5D785441B9cF55b98169F20FD9056a7", sortition_enabled=True)
    res = protocol_self_check(ChainClient(drifted))
    assert not res.ok
    assert {d["field"] for d in res.drift} == {"job_registry", "sortition_enabled"}
    jr = [d for d in res.drift if d["field"] == "job_registry"][0]
    assert jr["actual"] == chain.dn.addresses["JobRegistry"]
    with pytest.raises(WrongChain):
        protocol_self_check(ChainClient(chain.network.replace(chain_id=9200)))


def test_self_check_reports_missing_predeploy(chain):
    chain.dn.rpc("anvil_setCode", ["0x0000000000000000000000000000000000001002", "0x"])
    res = protocol_self_check(chain.client)
    assert not res.ok and any("no WorkerRegistry code" in p for p in res.problems)


def test_call_revert_decoded_with_eta(chain):
    w = chain.new_worker()
    chain.register(w)
    jid = chain.completed_job(w)
    with pytest.raises(CallReverted) as ei:
        chain.client.call(chain.jr, "releaseJob", jid, sender=w.address)
    e = ei.value
    assert e.error_name == "DisputeWindowNotElapsed" and e.eta == chain.job(jid)["completedAt"] + 60
    assert "not releasable before" in e.message and e.to_dict()["eta"] == e.eta


def test_explain_and_fmt():
    assert format_lcai(10**18, None) == "1" and format_lcai(1, None) == "0.000000000000000001"
    msg, fix, eta = explain(None)
    assert "reverted" in msg and eta is None


def test_is_still_staked(chain):
    from tray_agent.core.chain import is_still_staked

    w = chain.new_worker()
    assert is_still_staked(chain.network, w.address) is False
    chain.register(w)
    assert is_still_staked(chain.network, w.address) is True


