"""What the idle agent costs: the Ollama manager's stdlib client (no httpx/ollama/pydantic client per tick) and the
API server's main loop (one wake-up a second, still stopping at once). The Ollama here is the product's simulated
Ollama (no real one can run in CI)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from tests.runtime.test_consumer_process import ROOT

HOSTS = [None, "", "1.2.3.4", ":56789", "1.2.3.4:56789", "http://1.2.3.4", "https://1.2.3.4",
         "https://example.com:56789", "example.com/", "example.com/path", "https://example.com:56789/path/",
         "[0001:002:003:0004::1]", "[0001:002:003:0004::1]:56789", "http://127.0.0.1:35815"]


@pytest.mark.parametrize("host", HOSTS)
def test_ollama_host_rules_match_the_official_client(host):
    from ollama._client import _parse_host

    from tray_agent.core.runtime.ollama_http import parse_host

    scheme, h, port, path = parse_host(host)
    h = f"[{h}]" if ":" in h else h
    assert f"{scheme}://{h}:{port}{path}" == _parse_host(host)


def test_the_ollama_manager_works_without_loading_the_official_client_or_httpx():
    code = textwrap.dedent("""
        import json, sys
        from tray_agent.devnet.sim_ollama import SimOllama
        from tray_agent.core.runtime.ollama import OllamaManager
        import tray_agent.api.server, tray_agent.core.agent  # everything the agent imports at start
        sim = SimOllama(time_scale=0, installed=["llama3:8b"]).start()
        m = OllamaManager(sim.url, allow_host_start=False)
        seen = []
        up = m.ensure_running(start=False)
        m.pull("gpt-oss:20b", lambda p: seen.append((p.status, p.completed, p.total)))
        pinned = m.pin(["llama3:8b"])
        loaded = sorted(m.loaded())
        m.unload()
        print(json.dumps({"up": up, "tags": sorted(m.tags()), "progress": len(seen), "not_pinned": pinned,
                          "loaded": loaded, "after_unload": sorted(m.loaded()),
                          "heavy": [x for x in ("ollama", "httpx", "websockets") if x in sys.modules]}))
        sim.stop()
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["up"] and r["tags"] == ["gpt-oss:20b", "llama3:8b"] and r["progress"] >= 2
    assert r["not_pinned"] == [] and "llama3:8b" in r["loaded"] and r["after_unload"] == []
    assert r["heavy"] == []


def test_the_api_server_wakes_once_a_second_and_stops_at_once():
    import socket

    import uvicorn
    from starlette.applications import Starlette

    from tray_agent.api.server import QuietServer

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    server = QuietServer(uvicorn.Config(Starlette(), log_level="warning", lifespan="off", ws="none"))
    ticks: list[float] = []
    real_tick = server.on_tick

    async def counting(counter: int) -> bool:
        ticks.append(time.monotonic())
        return await real_tick(counter)

    server.on_tick = counting  # type: ignore[method-assign]
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    n0 = len(ticks)
    time.sleep(2.5)
    assert len(ticks) - n0 <= 4  # uvicorn's own loop: ~25 in 2.5 s
    assert server.server_state.default_headers  # the Date header is still refreshed
    t0 = time.monotonic()
    server.request_exit()
    t.join(5)
    assert not t.is_alive() and time.monotonic() - t0 < 0.8
