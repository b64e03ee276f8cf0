"""The whole product loop on devnet through the API and the CLI, with real parts:
anvil + replica contracts, a real dockerd running the simulated worker container, the real Secret Service keyring.
Tests in this module run in order and share one agent (a user's session, step by step)."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import psutil
import pytest

from tests.harness import AgentProc, ApiError, Chain, docker_client_or_none, wait_op
from tests.polling import wait_for
from tray_agent.common.amounts import format_lcai

PROFILE = "e2e"
PW = "E2e-Password-123"
USER_WALLET_CHECK = None


@pytest.fixture(scope="module")
def agent(tmp_path_factory, docker_ready):
    home = tmp_path_factory.mktemp("e2e-home")
    a = AgentProc(home, profile=PROFILE)  # no secrets file: the worker key's password goes to the real keychain
    a.start(timeout=90)
    yield a
    a.cli("shutdown", "--stop-worker")
    a.cleanup(docker_client_or_none())


def rpc(url: str, method: str, params: list):
    return Chain(url).call(method, params)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def test_fresh_agent_needs_setup(agent):
    st = agent.client.get("/api/status")
    assert st["state"] == "setup_needed" and st["network"] == "devnet" and st["profile"] == PROFILE
    ob = agent.client.get("/api/onboarding")
    assert ob["step"] == "network" and ob["steps"][0] == "network" and ob["address"] is None


def test_onboarding_input_steps_validate(agent):
    c = agent.client
    with pytest.raises(ApiError) as e:
        c.post("/api/onboarding/password", {"password": PW})
    assert e.value.field == "models"  # models come first: no key before the choice
    c.post("/api/onboarding/network", {"network": "devnet"})
    hw = c.get("/api/hardware")  # this machine, as the agent measured it
    assert hw["cpu_cores"] == psutil.cpu_count(logical=True), hw["cpu_cores"]
    assert hw["ram_bytes"] == psutil.virtual_memory().total, hw["ram_bytes"]
    assert {ch["name"] for ch in hw["checks"]} >= {"cpu_cores", "ram"} and hw["level"], hw
    models = c.get("/api/models")
    names = {m["name"] for m in models["catalog"]}
    assert "llama3-8b" in names and all(m["fee_wei"] for m in models["catalog"])
    with pytest.raises(ApiError) as e:
        c.post("/api/onboarding/models", {"models": ["no-such-model"]})
    assert e.value.field == "models" and "not offered" in e.value.message
    fit = c.post("/api/models/fit", {"models": ["llama3-8b"]})
    assert fit["verdict"] in ("fits", "tight", "wont_fit")
    c.post("/api/onboarding/models", {"models": ["llama3-8b"]})
    with pytest.raises(ApiError) as e:
        c.post("/api/onboarding/password", {"password": "short"})
    assert e.value.field == "password"
    assert c.get("/api/onboarding")["step"] == "password"


def test_key_created_once_and_funding_shown(agent):
    c = agent.client
    r = c.post("/api/onboarding/password", {"password": PW})
    assert r["created"] is True and r["address"].startswith("0x")
    again = c.post("/api/onboarding/password", {"password": "Another-Pass-456"})
    assert again["created"] is False and again["address"] == r["address"]  # never a second key
    ob = wait_for(lambda: (o := c.get("/api/onboarding"))["step"] == "funding" and o, timeout=60, what="funding step")
    f = ob["funding"]
    assert f["address"] == r["address"] and int(f["threshold_wei"]) == 5050 * 10**18
    assert f["eip681"] == f"ethereum:{r['address']}@31337?value={f['missing_wei']}"
    assert f["qr_svg"].lstrip().startswith("<svg") and PW not in json.dumps(ob)
    keys = list((agent.home / PROFILE / "data/networks/devnet/keys").iterdir())
    assert sorted(p.name for p in keys) == ["encryption.key", "key-meta.json", "keystore.json"]


def test_funding_then_continue_reaches_online(agent):
    c = agent.client
    fund = wait_op(c, c.post("/api/ops/devnet_fund", {})["op_id"])
    assert fund["state"] == "done", fund
    # issue 13 §6: the progress line names the amount the transaction sent ("sending 5,050" while 5,150 went out)
    sent = int(fund["result"]["amount_wei"])
    tx = rpc(agent.book["rpc"], "eth_getTransactionByHash", [fund["result"]["tx_hash"]])
    assert int(tx["value"], 16) == sent, (tx["value"], sent)
    line = next(p["message"] for p in fund["progress"] if p["message"].startswith("sending "))
    assert line.startswith(f"sending {format_lcai(sent)} LCAI ("), (line, sent)
    op = c.post("/api/onboarding/continue")["op_id"]
    rec = wait_op(c, op, timeout=240)
    assert rec["state"] == "done", rec
    full = next(o for o in c.get("/api/history?kind=onboarding")["items"] if o["id"] == op)  # all steps, not the last 20
    msgs = " | ".join(p["message"] for p in full["progress"])
    assert "staking" in msgs and "worker is online" in msgs
    # devnet ships a simulated Ollama (issue 13 §4): the model download reports progress, size-scaled, in GiB
    pulls = [p for p in full["progress"] if p["message"].startswith("downloading llama3-8b: ")]
    assert len(pulls) >= 3 and [p["fraction"] for p in pulls] == sorted(p["fraction"] for p in pulls), pulls
    assert pulls[-1]["message"] == "downloading llama3-8b: 4.3 of 4.3 GiB" and pulls[0]["fraction"] < 0.5, pulls
    # the CLI prints these lines as they are: money in LCAI, never wei or 18-digit numbers (issue 13 §6)
    assert "staking 5,000 LCAI" in msgs and " wei" not in msgs and not re.search(r"\d{13,}", msgs), msgs
    st = c.get("/api/status")
    assert st["state"] == "online" and st["registered"] and st["served_models"] == ["llama3-8b"]
    # ... and the served model is pinned in it (keep_alive -1: resident until unloaded)
    sim = agent.sim_ollama_url()
    assert sim, "no simulated Ollama port in worker.json"
    ps = wait_for(lambda: [m for m in get_json(sim + "/api/ps")["models"]
                           if m["name"].split(":")[0] == "llama3-8b"], timeout=60, what="llama3-8b pinned")
    assert ps[0]["expires_at"].startswith("2318"), ps
    assert int(st["stake_wei"]) == 5000 * 10**18
    assert c.get("/api/onboarding")["done"] is True
    # continue again: nothing is staked twice
    rec2 = wait_op(c, c.post("/api/onboarding/continue")["op_id"], timeout=120)
    assert rec2["state"] == "done"
    assert int(c.get("/api/status")["stake_wei"]) == 5000 * 10**18


def test_jobs_flow_and_settle_via_cli(agent):
    c = agent.client
    jobs = wait_for(lambda: [j for j in c.get("/api/jobs")["jobs"] if j["state"] == "Completed"], timeout=90,
                    what="completed jobs")
    assert jobs and int(jobs[0]["share_wei"]) > 0
    rpc(agent.book["rpc"], "evm_increaseTime", [120])
    rpc(agent.book["rpc"], "evm_mine", [])
    r = agent.cli("settle")  # no terminal to ask and no --yes: refused, not silently "cancelled"
    assert r.returncode == 2 and "add --yes" in r.stderr, (r.returncode, r.stderr)
    r = agent.cli("settle", "--yes")
    assert r.returncode == 0, r.stderr
    assert "released" in r.stdout and "withdrew" in r.stdout
    hist = c.get("/api/history?kind=settle")["items"][0]
    assert hist["state"] == "done" and hist["result"]["released_count"] >= 1


def test_withdraw_preview_errors_and_send(agent):
    c = agent.client
    user = agent.book["userWallet"]["address"]
    bad = c.get(f"/api/withdraw/preview?to={user[:-1]}&amount=1")
    assert bad["ok"] is False and bad["error"]["field"] == "to"
    own = c.get(f"/api/withdraw/preview?to={c.get('/api/status')['address']}&amount=1")
    assert own["ok"] is False and "own" in own["error"]["message"]
    p = c.get(f"/api/withdraw/preview?to={user}&amount=10")
    assert p["ok"] is True and int(p["amount_wei"]) == 10 * 10**18 and int(p["fee_wei"]) > 0
    with pytest.raises(ApiError) as e:
        c.post("/api/ops/withdraw", {"to": user, "amount": "10"})
    assert e.value.field == "confirm"
    before = int(rpc(agent.book["rpc"], "eth_getBalance", [user, "latest"]), 16)
    rec = wait_op(c, c.post("/api/ops/withdraw", {"to": user, "amount": "10", "confirm": True})["op_id"])
    assert rec["state"] == "done", rec
    after = int(rpc(agent.book["rpc"], "eth_getBalance", [user, "latest"]), 16)
    assert after - before == 10 * 10**18
    # issue 13 §6: the totals people ask for (the dashboard's "Totals so far"), from the chain and the history
    released = int(c.get("/api/history?kind=settle")["items"][0]["result"]["released_wei"])
    t = wait_for(lambda: (t := c.get("/api/earnings")["totals"]) and int(t["settled_wei"]) >= released and t,
                 timeout=30, what="the settle in the totals")
    assert int(t["withdrawn_wei"]) == 10 * 10**18 and int(t["slashed_wei"]) == 0, t
    assert int(t["earned_wei"]) >= int(t["settled_wei"]) > 0, t
    # CLI: bad checksum → exit code 2 with a fix line, nothing sent
    r = agent.cli("withdraw", "--to", user.lower()[:2] + user[2:].swapcase(), "--amount", "1", "--yes")
    assert r.returncode == 2 and "fix:" in r.stderr


def test_change_models_live(agent):
    c = agent.client
    rec = wait_op(c, c.post("/api/ops/set_models", {"models": ["llama3-8b", "qwen3-embedding:0.6b"]})["op_id"],
                  timeout=240)
    assert rec["state"] == "done", rec
    st = wait_for(lambda: (s := c.get("/api/status"))["state"] == "online" and
                  set(s["served_models"]) == {"llama3-8b", "qwen3-embedding:0.6b"} and s, timeout=60,
                  what="online with two models")
    assert int(st["stake_wei"]) == 5000 * 10**18  # no re-stake
    r = agent.cli("models", "list")
    assert r.returncode == 0 and "qwen3-embedding:0.6b" in r.stdout


def test_stop_and_start(agent):
    c = agent.client
    assert wait_op(c, c.post("/api/ops/stop", {})["op_id"])["state"] == "done"
    wait_for(lambda: c.get("/api/status")["state"] == "paused", timeout=60, what="paused")
    r = agent.cli("start")
    assert r.returncode == 0
    wait_for(lambda: c.get("/api/status")["state"] == "online", timeout=90, what="online again")


def test_clear_stuck_job(agent):
    from tray_agent.devnet.consumer import inject_stuck_job

    c = agent.client
    address = c.get("/api/status")["address"]
    # the worker is stopped so the injected job stays unacknowledged, then time moves past its deadline
    wait_op(c, c.post("/api/ops/stop", {})["op_id"])
    job = inject_stuck_job(agent.book["rpc"], address, advance_s=600)
    stuck = c.get("/api/stuck")
    assert job in [j["job_id"] for j in stuck["jobs"]]
    wait_for(lambda: c.get("/api/status")["stuck_jobs"] >= 1, timeout=10, what="stuck job in the status")
    rpc(agent.book["rpc"], "evm_increaseTime", [8000])  # past the no-fault grace: no slash needed
    rpc(agent.book["rpc"], "evm_mine", [])
    rec = wait_op(c, c.post("/api/ops/clear_stuck", {"allow_slash": False, "confirm": True})["op_id"])
    assert rec["state"] == "done", rec
    assert rec["result"]["settled_no_fault"] >= 1 and rec["result"]["slash_wei_total"] == "0"
    assert job not in [j["job_id"] for j in c.get("/api/stuck")["jobs"]]
    wait_op(c, c.post("/api/ops/start", {})["op_id"])


def test_speedtest_runs_against_the_devnet_simulated_ollama(agent):
    """Devnet ships a simulated Ollama (issue 13 §4), so the demo's speed test gives a verdict per model."""
    c = agent.client
    # a generative model: the speed test measures generation (an embedding model has no generate endpoint)
    rec = wait_op(c, c.post("/api/ops/speedtest", {"models": ["llama3-8b"]})["op_id"], timeout=300)
    assert rec["state"] == "done", rec
    verdicts = {m["model"]: (m["verdict"], m.get("error")) for m in rec["result"]["models"]}
    measured = {m for m, (v, _e) in verdicts.items() if v in ("comfortable", "tight", "over")}
    # a model not loaded while the worker runs a job is postponed (loading it could evict a serving model)
    postponed = {m for m, (v, e) in verdicts.items() if v == "postponed" and "busy" in (e or "")}
    assert measured and measured | postponed == set(verdicts) and rec["result"]["deadline_s"] > 0, verdicts


def test_busy_while_an_operation_runs(agent):
    """A second operation while one runs is refused with 409 busy (docs/api.md), and nothing else starts."""
    c = agent.client
    before = [o["id"] for o in c.get("/api/history?limit=20")["items"]]
    op = c.post("/api/ops/restart", {})["op_id"]
    with pytest.raises(ApiError) as e:
        c.post("/api/ops/settle", {"confirm": True})
    running = c.get(f"/api/ops/{op}")
    assert e.value.status == 409 and e.value.code == "busy", (e.value, running)
    assert e.value.fix, e.value.body
    rec = wait_op(c, op, timeout=180)
    assert rec["state"] == "done", rec
    new = [o for o in c.get("/api/history?limit=20")["items"] if o["id"] not in before]
    assert [o["kind"] for o in new] == ["restart"], new  # the refused settle left no record and did not run


DAY = 86400
WITHDRAWAL_TOPIC = "0x4a45698c7a2010a925f4f516fc9c004979abcf0a044581b2d17bee34c858a90c"  # WorkerWithdrawal(address,uint256)


def set_dispute_window(agent, seconds: int) -> None:
    """Devnet owner call (impersonated): a real-network-like window, so the exit has a day to wait out."""
    url, book = agent.book["rpc"], agent.book
    owner = book["owner"]["address"]
    rpc(url, "anvil_impersonateAccount", [owner])
    try:
        tx = rpc(url, "eth_sendTransaction", [{"from": owner, "to": book["AIConfig"],
                                                "data": "0x332226d0" + f"{seconds:064x}"}])  # setDisputeWindow
        rec = wait_for(lambda: rpc(url, "eth_getTransactionReceipt", [tx]), timeout=30, what="setDisputeWindow mined")
        assert int(rec["status"], 16) == 1, rec
    finally:
        rpc(url, "anvil_stopImpersonatingAccount", [owner])


def schedule_deregistration(c) -> dict:
    wait_for(lambda: int(c.get("/api/status")["escrowed_wei"]) > 0, timeout=120, what="a job inside the dispute window")
    rec = wait_op(c, c.post("/api/ops/deregister", {"confirm": True})["op_id"], timeout=240)
    assert rec["state"] == "done" and rec["result"]["scheduled"] is True, rec
    return rec


def test_deregister_is_a_persisted_schedule_that_survives_a_restart(agent):
    """The deregister operation stops the worker, then records when the stake can come back and ends: the runner is
    free; the schedule (state file) outlives an agent restart, and the worker stays stopped."""
    c = agent.client
    wait_for(lambda: c.get("/api/status")["state"] == "online", timeout=90, what="online")
    set_dispute_window(agent, DAY)
    rec = schedule_deregistration(c)
    left = float(rec["result"]["at"]) - time.time()
    # the last completion + one day of chain time (earlier tests moved anvil's clock ahead of the wall clock, so
    # compare on chain time), and the operation did not wait it out itself
    last = max(int(j["completed_at"]) for j in c.get("/api/jobs")["jobs"] if j.get("completed_at"))
    until = int(rec["result"]["chain_at"])
    chain_now = int(rpc(agent.book["rpc"], "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    assert until == last + DAY, (until, last)
    assert abs(left - (until - chain_now)) < 300 and left > 3600, (left, until - chain_now)
    st = wait_for(lambda: (s := c.get("/api/status"))["deregister_at"] and s, timeout=20, what="schedule in status")
    assert st["operation"] == "" and st["registered"] and st["state"] == "paused", st
    assert st["notices"][0]["kind"] == "deregistering" and st["notices"][0]["action"] == "cancel_deregister", st
    assert abs(float(st["deregister_at"]) - float(rec["result"]["at"])) < 30
    r = agent.cli("status")
    assert "deregistration scheduled for" in r.stdout and "deregister --cancel" in r.stdout, r.stdout
    agent.stop()
    agent.start(timeout=90)
    c = agent.client
    st = wait_for(lambda: (s := c.get("/api/status"))["address"] and s["deregister_at"] and s["registered"] and s,
                  timeout=60, what="schedule after restart (and the first chain refresh)")
    # the schedule is chain time; its wall-clock estimate moves only by how anvil's clock resumed after the restart
    assert abs(float(st["deregister_at"]) - float(rec["result"]["at"])) < 300 and st["registered"], st
    time.sleep(12)  # a supervisor tick: the worker of a leaving key is not started again
    st = c.get("/api/status")
    assert st["state"] == "paused" and not st["container_running"] and st["deregister_at"], st


def test_during_the_wait_safe_operations_run_and_conflicting_ones_say_why(agent):
    c = agent.client
    rec = wait_op(c, c.post("/api/ops/settle", {"confirm": True})["op_id"], timeout=120)
    assert rec["state"] == "done", rec  # not "busy": nothing holds the runner during the wait
    assert c.get("/api/jobs")["jobs"]
    for kind, body in (("set_models", {"models": ["llama3-8b"]}), ("start", {}), ("top_up", {"amount": "1",
                                                                                            "confirm": True})):
        with pytest.raises(ApiError) as e:
            c.post(f"/api/ops/{kind}", body)
        assert e.value.status == 409 and e.value.code == "deregister_scheduled", (kind, e.value.body)
        assert "deregistration scheduled for" in e.value.message and "cancel" in e.value.fix, e.value.body
    r = agent.cli("deregister", "--yes")
    assert r.returncode == 4 and "already scheduled" in r.stderr, (r.returncode, r.stderr)


def test_cancel_before_the_transaction_resumes_the_worker(agent):
    c = agent.client
    stake = int(c.get("/api/status")["stake_wei"])
    r = agent.cli("deregister", "--cancel")
    assert r.returncode == 0, r.stderr
    st = wait_for(lambda: (s := c.get("/api/status"))["state"] == "online" and s, timeout=90, what="online again")
    assert st["deregister_at"] == 0 and st["registered"] and int(st["stake_wei"]) == stake == 5000 * 10**18
    assert "deregistering" not in [n["kind"] for n in st["notices"]]


def test_scheduled_deregistration_returns_the_stake_exactly(agent):
    """When chain time passes the schedule, the refresh loop runs the final step by itself; the wallet gains exactly
    the stake plus every withdrawal, minus the exact gas of the worker's own transactions (integer wei)."""
    c = agent.client
    url = agent.book["rpc"]
    st = c.get("/api/status")
    addr, stake = st["address"], int(st["stake_wei"])
    b0 = int(rpc(url, "eth_blockNumber", []), 16)
    wallet0 = int(rpc(url, "eth_getBalance", [addr, hex(b0)]), 16)
    first = schedule_deregistration(c)["op_id"]
    rpc(url, "evm_increaseTime", [DAY + 120])
    rpc(url, "evm_mine", [])
    st = wait_for(lambda: (s := c.get("/api/status"))["registered"] is False and not s["operation"] and s,
                  timeout=240, what="the scheduled final step")
    final = [o for o in c.get("/api/history?kind=deregister&limit=5")["items"] if o["id"] != first][0]
    assert final["state"] == "done" and final["params"].get("scheduled") is True, final
    assert int(final["result"]["stake_returned_wei"]) == stake and st["deregister_at"] == 0
    b1 = int(rpc(url, "eth_blockNumber", []), 16)
    fees = 0
    for n in range(b0 + 1, b1 + 1):
        for tx in rpc(url, "eth_getBlockByNumber", [hex(n), True])["transactions"]:
            if tx["from"].lower() == addr.lower():
                r = rpc(url, "eth_getTransactionReceipt", [tx["hash"]])  # the worker container's own txs too
                fees += int(r["gasUsed"], 16) * int(r["effectiveGasPrice"], 16)
    logs = rpc(url, "eth_getLogs", [{"fromBlock": hex(b0 + 1), "toBlock": hex(b1), "address": agent.book["JobRegistry"],
                                     "topics": [WITHDRAWAL_TOPIC, "0x" + "00" * 12 + addr[2:].lower()]}])
    withdrawn = sum(int(lg["data"], 16) for lg in logs)
    wallet1 = int(rpc(url, "eth_getBalance", [addr, hex(b1)]), 16)
    assert wallet1 - wallet0 == stake + withdrawn - fees, (wallet1 - wallet0, stake, withdrawn, fees)
    assert st["state"] in ("paused", "setup_needed")
    set_dispute_window(agent, 60)


def test_history_and_csv(agent):
    c = agent.client
    kinds = {o["kind"] for o in c.get("/api/history?limit=100")["items"]}
    assert {"onboarding", "settle", "withdraw", "set_models", "deregister"} <= kinds
    csv = c.get("/api/history.csv")
    assert csv.startswith("type,time,network") and "withdrawal" in csv
