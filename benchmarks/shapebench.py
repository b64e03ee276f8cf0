"""Benchmarks in the shape a user runs (issue 15 §4): every RPC request the idle agent makes per minute, the agent
in the shape of a real network (Ollama manager loaded, keystore scrypt n=262144, no devnet consumer), the tray's
memory in each state, and where the tray's memory goes while the onboarding window is open."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from pathlib import Path

from tests.faults.harness import MODEL, AgentProc, wait_until

from . import membench
from .rpcproxy import CountingProxy

REAL_SCRYPT_N = 262144


def idle_rpc(a: AgentProc, seconds: float = 60.0) -> dict:
    """Every JSON-RPC request the onboarded, online, idle agent sends in ``seconds`` (status refresh, earnings
    refresh with eth_getLogs, supervisor…), attributed by PID at a loopback proxy put in front of anvil; the
    worker container and the devnet consumer talk through the same proxy and are reported apart."""
    book = json.loads(a.book_file.read_text())
    upstream = book["rpc"]
    proxy = CountingProxy(upstream, attribute=True).start()
    a.kill9()  # idle: anvil and the container live on
    a.book_file.write_text(json.dumps({**book, "rpc": proxy.url}))
    try:
        a.start()
        a.wait_state("online", 180)
        time.sleep(20)  # first refresh and the first (cold) earnings scan are done
        proxy.reset()
        t0 = time.monotonic()
        time.sleep(seconds)
        wall = time.monotonic() - t0
        with proxy._lock:
            by_pid = json.loads(json.dumps(proxy.by_pid))
        mine = by_pid.pop(str(a.pid), None) or by_pid.pop(a.pid, None) or {"requests": 0, "calls": 0, "methods": {}}
        per_min = 60.0 / wall
        others = {}
        import psutil

        for pid, v in by_pid.items():
            try:
                name = " ".join(psutil.Process(int(pid)).cmdline()[:4])[-60:]
            except (psutil.Error, ValueError):
                name = f"pid {pid}"
            others[name] = {"requests_per_min": v["requests"] * per_min, "calls_per_min": v["calls"] * per_min}
        return {"seconds": wall, "requests_per_min": mine["requests"] * per_min, "calls_per_min": mine["calls"] * per_min,
                "methods_per_min": {m: c * per_min for m, c in sorted(mine["methods"].items())},
                "get_logs_per_min": mine["methods"].get("eth_getLogs", 0) * per_min,
                "refresh_interval_s": 5.0, "others": others}
    finally:
        a.kill9()
        a.book_file.write_text(json.dumps(book))
        with contextlib.suppress(Exception):
            a.start()
            a.wait_state("online", 180)
        proxy.stop()


def real_shape_agent(work: Path, docker_host: str, seconds: float = 60.0) -> dict:
    """An onboarded devnet agent shaped like one on a real network: keystore scrypt n=262144 (networks.json
    override), the Ollama manager loaded (Ollama URL set; a fake Ollama answers), the devnet consumer stopped; one
    settle (a full key unlock) before the idle window. RSS and USS, alone and with children, and CPU."""
    from tests.fakes.fake_ollama import DEFAULT_MODELS, FakeModel, FakeOllama

    fake = FakeOllama(available=[*DEFAULT_MODELS, FakeModel(MODEL, 4_661_224_676)], installed=[MODEL]).start()
    a = AgentProc(work / "home-real", profile="benchreal", secrets_file=work / "secrets-real" / "s.json",
                  extra_env={"DOCKER_HOST": docker_host}, log_name="agent-real.log")
    try:
        a.config.mkdir(parents=True, exist_ok=True)
        (a.config / "networks.json").write_text(json.dumps({"devnet": {"scrypt_n": REAL_SCRYPT_N}}))
        a.start(120)
        r = a.post("/api/settings", {"ollama_url": fake.url})
        assert r.status == 200, r.body
        a.kill9()
        a.start(120)  # the Ollama manager is made at start
        t0 = time.monotonic()
        a.onboard(timeout=300)
        onboard_s = time.monotonic() - t0
        a.wait_state("online", 120)
        ks = json.loads((a.key_dir / "keystore.json").read_text())
        n = int((ks.get("crypto") or ks.get("Crypto"))["kdfparams"]["n"])
        import psutil

        for c in psutil.Process(a.pid).children(recursive=True):  # the devnet consumer: no such actor on a real network
            if "tray_agent.devnet.consumer" in " ".join(c.cmdline()):
                c.send_signal(signal.SIGTERM)
                with contextlib.suppress(psutil.TimeoutExpired):
                    c.wait(10)
        t0 = time.monotonic()
        rec = a.op("settle", {"confirm": True}, timeout=300)
        settle_s = time.monotonic() - t0
        time.sleep(10)
        idle = membench.sample({"agent": a.pid}, seconds)["agent"]
        return {"scrypt_n": n, "onboard_s": onboard_s, "settle_s": settle_s, "settle_state": rec["state"],
                "ollama_requests": len(fake.requests), "idle": idle}
    finally:
        a.cleanup(None)
        fake.stop()


def _window_children(pid: int) -> list:
    import psutil

    with contextlib.suppress(psutil.Error):
        return [c for c in psutil.Process(pid).children(recursive=True)
                if "tray_agent.windows" in " ".join(c.cmdline())]
    return []


def tray_states(work: Path, docker_host: str, tray_cls, seconds: float = 15.0) -> dict:
    """The tray (pystray, no Qt in its process) in each state a user meets, RSS and USS side by side, and per
    mapped-object memory while the onboarding window is open vs online without a window."""
    a = AgentProc(work / "home-tray", profile="benchtray", secrets_file=work / "secrets-tray" / "s.json",
                  extra_env={"DOCKER_HOST": docker_host, "LCAI_FAILPOINTS": "settle.before_withdraw=sleep(30000)"},
                  log_name="agent-tray.log")
    out: dict = {}
    tray = None
    try:
        a.start(120)
        tray = tray_cls(a, work / "tray-states.log")
        tray.start()
        wins = wait_until(lambda: _window_children(tray.proc.pid), 30, 0.2, "onboarding window")
        time.sleep(10)  # page loaded
        out["setup_needed_window_open"] = membench.sample({"tray": tray.proc.pid}, seconds)["tray"]
        out["window_tree_mb"] = sum(membench._mem(c)[0] for c in wins) / membench.MB
        smaps_setup = membench.smaps_by_object(tray.proc.pid)
        for c in wins:  # the user closes the window
            c.send_signal(signal.SIGTERM)
        wait_until(lambda: not _window_children(tray.proc.pid), 20, 0.2, "window closed")
        time.sleep(3)
        out["setup_needed_after_window_closed"] = membench.sample({"tray": tray.proc.pid}, seconds)["tray"]
        a.onboard(timeout=300)
        a.wait_state("online", 120)
        time.sleep(5)
        out["online_same_tray"] = membench.sample({"tray": tray.proc.pid}, seconds)["tray"]
        r = a.post("/api/ops/settle", {"confirm": True})  # held ≥ 30 s by the fault point: a running operation
        assert r.status == 202, r.body
        time.sleep(3)
        out["operation_running"] = membench.sample({"tray": tray.proc.pid}, min(seconds, 20))["tray"]
        a.wait_op(r.body["op_id"], 120)
        tray.stop()
        tray = tray_cls(a, work / "tray-states.log")  # a tray started while the worker is online (README row)
        tray.start()
        time.sleep(10)
        out["online_fresh_tray"] = membench.sample({"tray": tray.proc.pid}, seconds)["tray"]
        smaps_online = membench.smaps_by_object(tray.proc.pid)
        g_setup, g_online = membench.grouped(smaps_setup), membench.grouped(smaps_online)
        out["extra_by_family_kb"] = membench.top_delta(g_online, g_setup, 10)
        out["extra_by_family_private_kb"] = membench.top_delta(g_online, g_setup, 10, "private")
        out["extra_by_object_kb"] = membench.top_delta(smaps_online, smaps_setup, 15)
        out["families_setup_kb"] = g_setup
        out["families_online_kb"] = g_online
        return out
    finally:
        if tray is not None:
            tray.stop()
        a.cleanup(None)


def tray_first_launch(work: Path, tray_cls, seconds: float = 15.0) -> dict:
    """What a new user runs: ``lcai-tray`` with no agent running. The tray starts the agent itself (a detached
    child), shows setup-needed and opens the onboarding window. The tray process alone: RSS, USS, mappings; and the
    same numbers for a tray attached to an already running agent (the agent is then not the tray's child)."""
    import os

    a = AgentProc(work / "home-first", profile="benchfirst", secrets_file=work / "secrets-first" / "s.json",
                  extra_env={"LCAI_DOCKER_AUTOSTART": "0"}, log_name="agent-first.log")
    out: dict = {}
    tray = None
    agent_pid = 0
    try:
        tray = tray_cls(a, work / "tray-first.log")
        tray.start()
        wins = wait_until(lambda: _window_children(tray.proc.pid), 90, 0.2, "onboarding window")
        time.sleep(10)
        info = json.loads(a.api_file.read_text())
        agent_pid = int(info["pid"])
        import psutil

        kids = psutil.Process(tray.proc.pid).children(recursive=True)
        out["tray_children"] = sorted({" ".join(c.cmdline()[1:4])[-60:] for c in kids})
        out["agent_is_tray_child"] = agent_pid in {c.pid for c in kids}
        out["first_launch_window_open"] = membench.sample({"tray": tray.proc.pid}, seconds)["tray"]
        out["window_tree_mb"] = sum(membench._mem(c)[0] for c in wins) / membench.MB
        objs_first = membench.smaps_by_object(tray.proc.pid)
        out["smaps_first_launch"] = membench.grouped(objs_first)
        for c in wins:
            c.send_signal(signal.SIGTERM)
        tray.stop()
        tray = tray_cls(a, work / "tray-first.log")  # attach to the running agent, setup needed, window opens
        tray.start()
        wins = wait_until(lambda: _window_children(tray.proc.pid), 60, 0.2, "onboarding window")
        time.sleep(10)
        out["attached_window_open"] = membench.sample({"tray": tray.proc.pid}, seconds)["tray"]
        objs_attached = membench.smaps_by_object(tray.proc.pid)
        out["smaps_attached"] = membench.grouped(objs_attached)
        out["first_minus_attached_kb"] = membench.top_delta(out["smaps_attached"], out["smaps_first_launch"], 8)
        out["first_minus_attached_by_object_kb"] = membench.top_delta(objs_attached, objs_first, 10)
        for c in wins:
            c.send_signal(signal.SIGTERM)
        tray.stop()
        # the same tray with GTK's OpenGL allowed, as before 733706a (an empty GDK_GL is kept by the tray's
        # setdefault and means "no GDK_GL flags"): what the extra memory of a first launch was
        out["gdk_visuals_before_gl"] = _gdk_visuals()
        tray = tray_cls(a, work / "tray-first.log", extra_env={"GDK_GL": ""})
        tray.start()
        wins = wait_until(lambda: _window_children(tray.proc.pid), 60, 0.2, "onboarding window")
        time.sleep(10)
        out["gl_allowed_window_open"] = membench.sample({"tray": tray.proc.pid}, seconds)["tray"]
        objs_gl = membench.smaps_by_object(tray.proc.pid)
        out["smaps_gl_allowed"] = membench.grouped(objs_gl)
        out["gl_minus_disabled_by_object_kb"] = membench.top_delta(objs_attached, objs_gl, 10)
        out["gl_minus_disabled_by_object_private_kb"] = membench.top_delta(objs_attached, objs_gl, 10, "private")
        out["gdk_visuals_after_gl"] = _gdk_visuals()
        return out
    finally:
        if tray is not None:
            tray.stop()
        if agent_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(agent_pid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                wait_until(lambda: not Path(f"/proc/{agent_pid}").exists(), 20, 0.2, "agent gone")
        a.cleanup(None)


def _gdk_visuals() -> list[int] | None:
    """GDK_VISUALS on the X root window: GTK 3 probes OpenGL (loading Mesa) only in the first GTK process on a display
    that has GL allowed, and caches the chosen visuals there; later GTK processes read it and load no GL."""
    from Xlib import display

    d = display.Display()
    try:
        p = d.screen().root.get_full_property(d.intern_atom("GDK_VISUALS"), 0)
        return None if p is None else [int(x) for x in p.value]
    finally:
        d.close()


def first_launch_rows(fl: dict, row) -> list[dict]:
    """Table rows of :func:`tray_first_launch`: the tray a new user meets, and the same tray with GL allowed."""
    f, t = fl["first_launch_window_open"], fl["attached_window_open"]
    top = ", ".join(f"{k} {kb / 1024:+.1f}" for k, kb in fl["first_minus_attached_by_object_kb"][:5])
    out = [row("Tray RSS, first launch (starts the agent) + onboarding window", f["rss_mb_mean"], "—", None,
               f"USS {f['uss_mb_mean']:.0f} MB; attached to a running agent: {t['rss_mb_mean']:.0f} RSS / "
               f"{t['uss_mb_mean']:.0f} USS MB; extra mappings (MB RSS): {top or 'none'}", "MB")]
    g = fl.get("gl_allowed_window_open")
    if g:
        objs = ", ".join(f"{k} {kb / 1024:+.1f}" for k, kb in fl["gl_minus_disabled_by_object_kb"][:6])
        priv = sum(kb for _k, kb in fl["gl_minus_disabled_by_object_private_kb"]) / 1024
        out.append(row("Tray RSS with GTK's OpenGL allowed (GDK_GL empty, as before 733706a) + onboarding window",
                       g["rss_mb_mean"], "—", None,
                       f"USS {g['uss_mb_mean']:.0f} MB vs {t['rss_mb_mean']:.0f} RSS / {t['uss_mb_mean']:.0f} USS "
                       f"with GDK_GL=disable (the tray's default); the difference by mapped object (MB RSS): "
                       f"{objs or 'none'}; private +{priv:.1f} MB; root window GDK_VISUALS before: "
                       f"{fl['gdk_visuals_before_gl'] or 'none'}, after: {fl['gdk_visuals_after_gl'] or 'none'} (GTK "
                       "probes GL once per X display and caches the visuals there)", "MB"))
    return out
