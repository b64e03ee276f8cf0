"""Run every benchmark and print ONE table side by side with the targets (issue 8). Not part of the test suite.

    sudo .venv/bin/python -m benchmarks.run            # or: bash scripts/bench.sh (adds a D-Bus session)
    .venv/bin/python -m benchmarks.run --quick          # fewer repetitions, 20 s idle window

Needs root + dockerd (it starts a private dockerd of its own, like scripts/test.sh), anvil (scripts/bootstrap.sh),
and for the tray rows Xvfb + trayer (started here when DISPLAY is unset). Everything it starts is stopped by PID.
Writes benchmarks/results.json and benchmarks/results.md (with the machine description).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class Services:
    """Private dockerd, Xvfb and trayer for the run; stopped by PID."""

    def __init__(self, work: Path):
        self.work = work
        self.engine = None
        self.xvfb: subprocess.Popen | None = None
        self.trayer: subprocess.Popen | None = None

    def start_docker(self):
        from tests.plugins.docker import PrivateDockerd

        if os.geteuid() != 0 or not shutil.which("dockerd"):
            raise SystemExit("benchmarks need root and dockerd (they start a private dockerd); run as root")
        self.engine = PrivateDockerd(self.work / "dockerd").start(60)
        return self.engine

    def docker_client(self):
        import docker

        return docker.DockerClient(base_url=self.engine.url, timeout=60)

    def start_display(self) -> bool:
        if not os.environ.get("DISPLAY"):
            exe = shutil.which("Xvfb")
            if not exe:
                return False
            n = next(n for n in range(150, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists()
                     and not Path(f"/tmp/.X{n}-lock").exists())
            self.xvfb = subprocess.Popen([exe, f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.environ["DISPLAY"] = f":{n}"
            for _ in range(50):
                if Path(f"/tmp/.X11-unix/X{n}").exists():
                    break
                time.sleep(0.1)
        exe = shutil.which("trayer")
        if not exe:
            return False
        self.trayer = subprocess.Popen([exe, "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width",
                                        "200", "--height", "32", "--SetDockType", "true"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from tray_agent.tray.hosts import xembed_tray_present

        deadline = time.monotonic() + 10
        while not xembed_tray_present() and time.monotonic() < deadline:
            time.sleep(0.1)
        return xembed_tray_present()

    def stop(self) -> None:
        for p in (self.trayer, self.xvfb):
            if p and p.poll() is None:
                p.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(5)
                if p.poll() is None:
                    p.kill()
        if self.engine is not None:
            with contextlib.suppress(Exception):
                c = self.docker_client()
                for ct in c.containers.list(all=True):
                    ct.remove(force=True)
                c.close()
            self.engine.stop()
            real = str(self.engine.root.resolve())
            with open("/proc/mounts") as fh:
                points = [ln.split()[1] for ln in fh if ln.split()[1].startswith(real)]
            for m in sorted(points, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True)


def row(name: str, value, target: str, ok: bool | None, detail: str = "", unit: str = "") -> dict:
    return {"name": name, "value": value, "unit": unit, "target": target, "ok": ok, "detail": detail}


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.2f}" if v < 100 else f"{v:.0f}"
    return str(v)


def table(rows: list[dict]) -> str:
    head = ["Benchmark", "Result", "Target", "Met", "Detail"]
    lines = [head]
    for r in rows:
        met = {True: "yes", False: "NO", None: "n/a"}[r["ok"]]
        lines.append([r["name"], f"{fmt(r['value'])} {r['unit']}".strip(), r["target"], met, r["detail"]])
    widths = [max(len(x[i]) for x in lines) for i in range(len(head))]
    out = []
    for i, ln in enumerate(lines):
        out.append("  ".join(c.ljust(w) for c, w in zip(ln, widths, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def commit() -> str:
    """The commit measured (with "+dirty" when the working tree differs from it; earlier results don't count)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":!benchmarks/results.*"], cwd=ROOT, capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return head + ("+dirty" if dirty else "") if head else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def markdown(rows: list[dict], machine: dict, when: str, quick: bool, measured: str = "") -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    out = ["# Benchmark results", "",
           f"Run {when} on commit {measured or commit()} with `python -m benchmarks.run{' --quick' if quick else ''}` "
           f"(devnet: anvil + replicas, private dockerd, simulated worker container). Load average at the end: {load}.",
           "",
           "| Benchmark | Result | Target | Met | Commit | Detail |", "|---|---|---|---|---|---|"]
    for r in rows:  # a row merged in from another run carries its own commit
        met = {True: "yes", False: "**no**", None: "n/a"}[r["ok"]]
        out.append(f"| {r['name']} | {fmt(r['value'])} {r['unit']} | {r['target']} | {met} | "
                   f"{r.get('commit') or measured or commit()} | {r['detail']} |")
    out += ["", "Machine: " + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in machine.items()), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and a 20 s idle window")
    ap.add_argument("--idle-seconds", type=float, default=None)
    ap.add_argument("--skip", action="append", default=[],
                    help="skip: chain, recovery, dockerd, tray, window, rpc, shape, traystates, firstlaunch")
    ap.add_argument("--no-save", action="store_true", help="print only; keep benchmarks/results.* as they are")
    args = ap.parse_args(argv)
    idle_s = args.idle_seconds or (20.0 if args.quick else 60.0)
    reps = 1 if args.quick else 3

    from benchmarks import agentbench, chainbench, membench, shapebench
    from benchmarks.machine import describe
    from tests.faults.harness import AgentProc

    machine = describe()
    work = Path(tempfile.mkdtemp(prefix="lcai-bench-", dir="/tmp"))
    svc = Services(work)
    rows: list[dict] = []
    raw: dict = {"machine": machine, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                 "commit": commit()}
    agent = None
    tray = None

    def attempt(key: str, fn):
        try:
            raw[key] = fn()
            return raw[key]
        except Exception as e:
            raw[key] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-3000:]}
            print(f"[bench] {key} failed: {e}", file=sys.stderr)
            return None

    try:
        # --- chain side (no Docker) -----------------------------------------------------------------
        if "chain" not in args.skip:
            print("[bench] settle 200 jobs (ours vs sequential)…", file=sys.stderr)
            s = attempt("settle", lambda: chainbench.settle_200(work, runs=1 if args.quick else 5))
            if s:
                m, t = s["median_s"], s["txs"]
                runs = f"median of {s['runs']} runs each, same run"
                rows.append(row("Settle 200 releasable jobs: speed-up vs sequential", s["speedup"], "≥ 5×",
                                s["speedup"] >= 5, f"ours {m['ours']:.2f} s in {t['ours']} tx (log discovery, probe, "
                                f"releaseJobs×50 + withdraw); sequential {m['sequential']:.2f} s in {t['sequential']} tx; "
                                f"{runs}", "×"))
                rows.append(row("Settle 200: speed-up vs 200 releaseJob sent back to back", s["speedup_vs_pipelined"],
                                "—", None, f"pipelined {m['pipelined']:.2f} s in {t['pipelined']} tx (no receipt awaited "
                                f"between sends, ids given); ours {m['ours']:.2f} s; {runs}", "×"))
                rows.append(row("Settle 200: speed-up vs the toolkit's batches of 50", s["speedup_vs_toolkit"], "—",
                                None, f"toolkit {m['toolkit']:.2f} s in {t['toolkit']} tx (releaseJobs×50 of known ids "
                                f"+ withdraw, no discovery); ours {m['ours']:.2f} s; {runs}", "×"))
            print("[bench] status refresh…", file=sys.stderr)
            r = attempt("refresh", lambda: chainbench.status_refresh(work))
            if r:
                rows.append(row("Status refresh: RPC HTTP requests per refresh", r["requests_per_refresh"], "1",
                                r["requests_max"] == 1, f"{r['calls_per_request']:.0f} JSON-RPC calls in one batch "
                                f"({r['models']} models); first refresh {r['cold_requests']} request", "req"))
                rows.append(row("Status refresh: latency", r["latency_ms_median"], "—", None,
                                f"median of {r['rounds']} (p95 {r['latency_ms_p95']:.0f} ms), loopback anvil", "ms"))
            print("[bench] demand refresh…", file=sys.stderr)
            dm = attempt("demand", lambda: chainbench.demand_refresh(work))
            if dm:
                rows.append(row("Demand refresh (24 h): RPC HTTP requests, incremental", dm["requests"], "≤ 4",
                                dm["requests"] <= 4, f"{dm['calls']} JSON-RPC calls, {dm['blocks']} new block(s) read "
                                f"from the disk cache in {dm['ms']:.0f} ms; cold refresh {dm['cold_requests']} requests "
                                f"({dm['cold_calls']} calls, {dm['cold_blocks']} blocks, {dm['cold_ms']:.0f} ms); "
                                f"{dm['jobs']} jobs, {dm['models']} models", "req"))
            er = attempt("earnings", lambda: chainbench.earnings_refresh(work))
            if er:
                lo, hi = (er[str(n)] for n in er["sizes"])
                rows.append(row(f"Earnings refresh with N final jobs: RPC calls (N = {er['sizes'][0]} / {er['sizes'][1]})",
                                f"{lo['calls']:.0f} / {hi['calls']:.0f}", "not growing with N", hi["calls"] <= lo["calls"],
                                f"warm refresh after 1 new job, {lo['requests']:.0f} / {hi['requests']:.0f} requests, "
                                f"{lo['ms']:.0f} / {hi['ms']:.0f} ms, CPU {lo['cpu_ms']:.0f} / {hi['cpu_ms']:.0f} ms (median of "
                                f"{er['rounds']}); first refresh "
                                f"{lo['cold']['calls']} / {hi['cold']['calls']} calls", "calls"))

        # --- a real agent on devnet with its own dockerd ----------------------------------------------
        print("[bench] starting a private dockerd…", file=sys.stderr)
        engine = svc.start_docker()
        from tray_agent.core.runtime import images

        c = svc.docker_client()
        images.build_sim_image(c, images.SIM_IMAGE)
        sim = c.images.get(images.SIM_IMAGE)
        from tray_agent.core.networks import get_network

        shape = (f"worker image {images.SIM_IMAGE} ({sim.short_id.removeprefix('sha256:')}, simulated worker); "
                 f"keystore scrypt n={get_network('devnet').scrypt_n} (devnet; real networks 262144)")
        raw["recovery_shape"] = shape
        home = work / "home"
        # the chain outlives a kill -9 of the agent, as a real network does: the RPC row restarts the agent
        # in front of a counting proxy on the same anvil (by default anvil dies with the agent)
        agent = AgentProc(home, profile="bench", secrets_file=work / "secrets" / "secrets.json",
                          extra_env={"DOCKER_HOST": engine.url, "LCAI_DEVNET_CHAIN_OUTLIVES_AGENT": "1"})
        print("[bench] agent: onboarding on devnet…", file=sys.stderr)
        agent.start()
        agent.onboard(timeout=300)
        agent.wait_state("online", 60)

        if "recovery" not in args.skip:
            print("[bench] container kill → online…", file=sys.stderr)
            k = attempt("container_kill", lambda: agentbench.container_kill(agent, c, reps))
            if k:
                rows.append(row("Worker container killed → online again", k["median_s"], "≤ 5 s", k["max_s"] <= 5,
                                f"median of {len(k['runs'])} (max {k['max_s']:.2f} s), docker kill; states seen: "
                                f"{' → '.join(k['state_paths'][0]['states'])}; {shape}", "s"))

        gui = "tray" not in args.skip and svc.start_display()
        raw["gui"] = {"display": os.environ.get("DISPLAY"), "tray_host": gui,
                      "dbus": bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS"))}
        if gui:
            print("[bench] launch → tray icon…", file=sys.stderr)
            lt = attempt("launch_to_icon", lambda: agentbench.launch_to_icon(agent, work / "tray.log", reps))
            if lt:
                rows.append(row("Launch → tray icon shown", lt["median_s"], "≤ 1 s", lt["max_s"] <= 1,
                                f"median of {len(lt['runs'])} (max {lt['max_s']:.2f} s), agent already running; "
                                "icon docked in trayer (Xvfb)", "s"))
            tray = agentbench.Tray(agent, work / "tray.log")
            tray.start()
            time.sleep(10)
            raw["tray_backend_loaded"] = tray.backend()
            print(f"[bench] idle RSS/CPU over {idle_s:.0f} s…", file=sys.stderr)
            idle = attempt("idle", lambda: membench.sample({"tray": tray.proc.pid, "agent": agent.pid}, idle_s))
        else:
            print(f"[bench] idle RSS/CPU over {idle_s:.0f} s (agent only: no display/tray host)…", file=sys.stderr)
            idle = attempt("idle", lambda: membench.sample({"agent": agent.pid}, idle_s))
        if idle:
            if "tray" in idle:
                t = idle["tray"]
                rows.append(row("Tray idle RSS", t["rss_mb_mean"], "≤ 35 MB", t["rss_mb_max"] <= 35,
                                f"USS {t['uss_mb_mean']:.1f} MB (RSS counts shared GTK/X libraries); max RSS "
                                f"{t['rss_mb_max']:.1f} MB over {t['seconds']:.0f} s, online, no windows open; pystray "
                                f"backend {raw.get('tray_backend_loaded')}", "MB"))
                rows.append(row("Tray idle CPU", t["cpu_pct"], "≤ 0.5 %", t["cpu_pct"] <= 0.5,
                                f"over {t['seconds']:.0f} s", "%"))
            else:
                rows.append(row("Tray idle RSS / CPU", "not measured", "≤ 35 MB, ≤ 0.5 %", None,
                                "no X display / tray host available"))
            g = idle["agent"]
            rows.append(row("Agent idle RSS", g["rss_mb_mean"], "≤ 90 MB", g["rss_mb_max"] <= 90,
                            f"USS {g['uss_mb_mean']:.1f} MB; with children (devnet consumer, simulated Ollama, anvil) RSS "
                            f"{g['rss_tree_mb_mean']:.1f} / USS {g['uss_tree_mb_mean']:.1f} MB; max RSS "
                            f"{g['rss_mb_max']:.1f} MB over {g['seconds']:.0f} s; devnet, worker online, consumer "
                            "submitting 6 jobs/min (dockerd, container not counted)", "MB"))
            rows.append(row("Agent idle CPU", g["cpu_pct"], "≤ 0.5 %", g["cpu_pct"] <= 0.5,
                            f"process CPU time {g['cpu_s']:.2f} s over {g['seconds']:.0f} s wall (user + system); with "
                            f"children {g['cpu_pct_tree']:.2f} % (devnet consumer, simulated Ollama, anvil); load average "
                            f"{g['load_min']:.1f}–{g['load_max']:.1f} on {os.cpu_count()} cores during the window", "%"))
        if gui and tray is not None and "window" not in args.skip:
            print("[bench] window open → close → memory…", file=sys.stderr)
            w = attempt("window", lambda: agentbench.window_memory(agent, tray.proc.pid, min(idle_s, 20)))
            if w:
                ok = w["window_process_gone"] and w["agent_delta_mb"] <= 5 and w["tray_delta_mb"] <= 2
                rows.append(row("Memory after a window is closed (agent Δ vs idle)", w["agent_delta_mb"],
                                "back to idle", ok,
                                f"tray Δ {w['tray_delta_mb']:+.1f} MB; dashboard window tree "
                                f"{w['window_tree_rss_mb']:.0f} MB while open, process gone after close: "
                                f"{w['window_process_gone']}", "MB"))
        if tray is not None:
            tray.stop()
            tray = None
        if gui and "firstlaunch" not in args.skip:
            print("[bench] tray first launch (it starts the agent) vs attached…", file=sys.stderr)
            fl = attempt("tray_first_launch", lambda: shapebench.tray_first_launch(work, agentbench.Tray,
                                                                                   min(idle_s, 15)))
            if fl:
                rows += shapebench.first_launch_rows(fl, row)

        if "dockerd" not in args.skip:
            print("[bench] dockerd restart → online…", file=sys.stderr)
            d = attempt("dockerd_restart", lambda: agentbench.dockerd_restart(agent, svc.docker_client, engine,
                                                                              max(1, reps - 1)))
            if d:
                rows.append(row("dockerd restarted → worker online (from dockerd answering)",
                                d["median_s_from_engine_ready"], "≤ 15 s", max(d["runs_from_engine_ready"]) <= 15,
                                f"median of {len(d['runs_total'])}; states seen: "
                                f"{' → '.join(d['state_paths'][0]['states'])}; {shape}", "s"))
                rows.append(row("dockerd restarted → worker online (from the restart command)", d["median_s_total"],
                                "—", None, f"SIGTERM to dockerd (containers stop with it) + start again + worker online; "
                                f"median of {len(d['runs_total'])} (max {max(d['runs_total']):.1f} s)", "s"))
        if "rpc" not in args.skip:
            print(f"[bench] idle agent: every RPC request over {idle_s:.0f} s…", file=sys.stderr)
            q = attempt("idle_rpc", lambda: shapebench.idle_rpc(agent, idle_s))
            if q:
                meth = ", ".join(f"{k} {v:.1f}" for k, v in q["methods_per_min"].items())
                rows.append(row("Idle agent: RPC HTTP requests per minute", q["requests_per_min"], "—", None,
                                f"{q['calls_per_min']:.0f} JSON-RPC calls/min ({meth}); eth_getLogs "
                                f"{q['get_logs_per_min']:.1f}/min; status refresh every 5 s on devnet (10 s on real "
                                "networks), earnings refresh every 15 s; counted per PID at a proxy (container and "
                                "consumer excluded)", "req/min"))
        if "shape" not in args.skip:
            print("[bench] agent in the shape of a real network…", file=sys.stderr)
            rs = attempt("real_shape", lambda: shapebench.real_shape_agent(work, engine.url, idle_s))
            if rs:
                i = rs["idle"]
                rows.append(row("Agent idle RSS, real-network shape", i["rss_mb_mean"], "≤ 90 MB", i["rss_mb_max"] <= 90,
                                f"USS {i['uss_mb_mean']:.1f} MB; with children RSS {i['rss_tree_mb_mean']:.1f} / USS "
                                f"{i['uss_tree_mb_mean']:.1f} MB; CPU {i['cpu_pct']:.2f} % (tree "
                                f"{i['cpu_pct_tree']:.2f} %; load average {i['load_min']:.1f}–{i['load_max']:.1f}); Ollama manager loaded, keystore scrypt n={rs['scrypt_n']} "
                                f"(settle incl. unlock {rs['settle_s']:.1f} s, before the idle window), no consumer", "MB"))
        if gui and "traystates" not in args.skip:
            print("[bench] tray memory per state…", file=sys.stderr)
            ts = attempt("tray_states", lambda: shapebench.tray_states(work, engine.url, agentbench.Tray,
                                                                       min(idle_s, 20)))
            if ts:
                parts = []
                for key, label in (("setup_needed_window_open", "setup needed + onboarding window open"),
                                   ("setup_needed_after_window_closed", "after the window closed"),
                                   ("online_same_tray", "online (same tray)"),
                                   ("operation_running", "operation running"),
                                   ("online_fresh_tray", "online (fresh tray)")):
                    v = ts[key]
                    parts.append(f"{label}: {v['rss_mb_mean']:.0f} RSS / {v['uss_mb_mean']:.0f} USS")
                extra = "; ".join(f"{k} {kb / 1024:+.1f}" for k, kb in ts["extra_by_family_kb"][:4])
                rows.append(row("Tray memory per state (MB)", ts["setup_needed_window_open"]["rss_mb_mean"], "—", None,
                                "; ".join(parts) + f". Window open vs fresh online tray, by mapping (MB RSS): {extra}",
                                "MB"))
        c.close()
    finally:
        if tray is not None:
            tray.stop()
        if agent is not None:
            with contextlib.suppress(Exception):
                agent.cleanup(svc.docker_client() if svc.engine else None)
        svc.stop()
        shutil.rmtree(work, ignore_errors=True)

    raw["rows"] = rows
    raw["tray_backend"] = os.environ.get("PYSTRAY_BACKEND") or "auto"
    if not args.no_save:
        (HERE / "results.json").write_text(json.dumps(raw, indent=1, default=str))
        (HERE / "results.md").write_text(markdown(rows, machine, raw["started"], args.quick, raw["commit"]))
    print()
    print(table(rows))
    print()
    print("Machine: " + ", ".join(f"{k}: {v}" for k, v in machine.items()))
    if not args.no_save:
        print(f"Results: {HERE / 'results.json'}, {HERE / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
