"""Demand per model from the devnet chain: jobs per model in the window, eligible workers, the disk cache that makes
a second refresh read only new blocks (RPC requests counted), and a skewed market making the suggestion pick the
model in demand."""

from __future__ import annotations

import json

from tray_agent.core.chain.client import ChainClient
from tray_agent.core.chain.demand import DemandIndex
from tray_agent.core.demand import estimate, suggest

MODELS = ["llama3-8b", "qwen3-vl:8b", "gpt-oss:20b"]
GB = 10**9


def counting_client(chain) -> tuple[ChainClient, list]:
    """A fresh client whose every HTTP request (payload) is recorded."""
    sent: list = []
    return ChainClient(chain.network, on_request=sent.append), sent


def log_ranges(sent: list) -> list[tuple[int, int]]:
    out = []
    for payload in sent:
        for item in payload if isinstance(payload, list) else [payload]:
            if item["method"] == "eth_getLogs":
                f = item["params"][0]
                out.append((int(f["fromBlock"], 16), int(f["toBlock"], 16)))
    return out


def test_jobs_per_model_workers_and_incremental_cache(chain, tmp_path):
    me, other = chain.new_worker(), chain.new_worker()
    chain.register(me, ["llama3-8b"])
    chain.register(other, ["llama3-8b", "qwen3-vl:8b"])
    chain.completed_jobs(other, 6, "qwen3-vl:8b")      # one session, six jobs
    chain.completed_jobs(me, 2, "llama3-8b")
    client, sent = counting_client(chain)
    cache = tmp_path / "devnet" / "demand-cache.json"
    d1 = DemandIndex(client, cache).refresh(MODELS, 24 * 3600, me.address)
    by = {m.name: m for m in d1.models}
    assert (by["qwen3-vl:8b"].jobs, by["llama3-8b"].jobs, by["gpt-oss:20b"].jobs) == (6, 2, 0)
    assert (by["llama3-8b"].workers, by["llama3-8b"].serving) == (2, True)
    assert (by["qwen3-vl:8b"].workers, by["qwen3-vl:8b"].serving) == (1, False)
    assert by["qwen3-vl:8b"].fee_wei == chain.fee("qwen3-vl:8b") and d1.worker_fee_bps == 8000
    assert d1.rpc_requests == len(sent) <= 4 and cache.exists()
    head1 = d1.head_block

    # a new session is opened before the next refresh and a follow-up job lands on the old session: the second
    # refresh (a new index reading the disk cache) asks for new blocks only, in a bounded number of requests
    chain.completed_jobs(other, 3, "qwen3-vl:8b")
    chain.completed_jobs(me, 1, "llama3-8b")
    client2, sent2 = counting_client(chain)
    d2 = DemandIndex(client2, cache).refresh(MODELS, 24 * 3600, me.address)
    by2 = {m.name: m for m in d2.models}
    assert (by2["qwen3-vl:8b"].jobs, by2["llama3-8b"].jobs) == (9, 3)
    ranges = log_ranges(sent2)
    assert ranges and all(a > head1 for a, _ in ranges), ranges
    assert d2.blocks_scanned == d2.head_block - head1
    assert d2.rpc_requests == len(sent2) <= 3  # views + logs (+ headers when the window start moved)
    print(f"\ndemand refresh: cold {d1.rpc_requests} requests, incremental {d2.rpc_requests} "
          f"({d2.blocks_scanned} new blocks)")


def test_window_excludes_old_jobs_and_sessions_from_before_the_scan(chain, tmp_path):
    w = chain.new_worker()
    chain.register(w, ["llama3-8b"])
    sid_job = chain.create_job(w, "llama3-8b")
    chain.advance(3 * 3600)   # 3 h later: new jobs on the old session and a new one
    chain.mine()
    session = chain.job(sid_job)["sessionId"]
    chain.consumer.send(chain.jr.address, chain.jr.encode("testSubmitJobForSession", session, b"\x01" * 32),
                        chain.fee("llama3-8b"))
    chain.create_job(w, "llama3-8b")
    client, _ = counting_client(chain)
    d = DemandIndex(client, tmp_path / "c.json").refresh(MODELS, 3600, w.address)   # last hour
    assert {m.name: m.jobs for m in d.models}["llama3-8b"] == 2
    data = json.loads((tmp_path / "c.json").read_text())
    assert str(session) in data["sessions"]   # its model came from getSession (opened before the window)
    wide = DemandIndex(client, tmp_path / "c.json").refresh(MODELS, 24 * 3600, w.address)  # backfills the start
    assert {m.name: m.jobs for m in wide.models}["llama3-8b"] >= 3


def test_skewed_demand_makes_the_suggestion_include_that_model(chain, tmp_path, monkeypatch):
    """The devnet market: peers registered by the consumer, demand skewed to qwen3-vl:8b through the consumer's
    per-model weights; the exact subset search (memory for two of the three) then keeps qwen3-vl:8b."""
    from tray_agent.devnet.consumer import Consumer

    monkeypatch.setenv("LCAI_DEVNET_PEERS", "llama3-8b=2,qwen3-vl:8b=1,gpt-oss:20b=1")
    monkeypatch.setenv("LCAI_DEVNET_DEMAND", "qwen3-vl:8b=20,llama3-8b=1,gpt-oss:20b=1")
    me = chain.new_worker()
    chain.register(me, ["llama3-8b"])
    c = Consumer(chain.dn.rpc_url, chain.network.chain_id, peers=True)
    assert c.weights == {"qwen3-vl:8b": 20.0, "llama3-8b": 1.0, "gpt-oss:20b": 1.0}
    for _ in range(30):
        c.submit_one()
    assert c.by_model.get("qwen3-vl:8b", 0) > 15, c.by_model
    client, _ = counting_client(chain)
    d = DemandIndex(client, tmp_path / "c.json").refresh(MODELS, 24 * 3600, me.address)
    est = estimate(d)
    assert est["qwen3-vl:8b"].wei_per_day == max(e.wei_per_day for e in est.values())
    res = suggest(est, {"llama3-8b": 6 * GB, "qwen3-vl:8b": 7 * GB, "gpt-oss:20b": 14 * GB}, 14 * GB, {},
                  current=["llama3-8b"])
    assert "qwen3-vl:8b" in res.models and res.wei_per_day > res.current_wei_per_day
    reasons = {x["model"]: x["reason"] for x in res.left_out}
    assert all(m in res.models or m in reasons for m in MODELS), (res.models, reasons)


def header_requests(sent: list) -> int:
    return sum(1 for p in sent if isinstance(p, list) and p and all(
        i["method"] == "eth_getBlockByNumber" for i in p))


def test_window_start_is_exact_and_the_next_search_reuses_cached_headers(chain, tmp_path):
    chain.dn.rpc("anvil_mine", [hex(1000), hex(30)])  # 1,000 blocks 30 s apart (~8.3 h)
    client, sent = counting_client(chain)
    index = DemandIndex(client, tmp_path / "c.json")
    d = index.refresh(MODELS, 3600, None)
    ts = {b: int(client.block(b)["timestamp"], 16) for b in (d.start_block - 1, d.start_block)}
    target = d.head_ts - 3600
    assert ts[d.start_block - 1] < target <= ts[d.start_block], (d.start_block, ts, target)
    assert header_requests(sent) <= 4  # block 0, then a k-ary search: 24 probes per request over 1,000+ blocks
    chain.dn.rpc("anvil_mine", [hex(10), hex(30)])  # 5 minutes later
    client2, sent2 = counting_client(chain)
    d2 = DemandIndex(client2, tmp_path / "c.json").refresh(MODELS, 3600, None)
    assert d2.start_block > d.start_block and header_requests(sent2) <= 1 and d2.rpc_requests <= 3
