"""Agent-side benchmarks with real processes: recovery after a container kill and a dockerd restart, idle RSS/CPU
of the tray and the agent, memory after a window is closed, launch → tray icon docked."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path

from tests.faults.harness import PYTHON, ROOT, AgentProc, wait_until


def _started_at(container) -> str:
    container.reload()
    return container.attrs["State"].get("StartedAt", "")


def _worker(client, profile: str):
    cs = client.containers.list(all=True, filters={"label": f"lcai.profile={profile}"})
    return cs[0] if cs else None


def _online_with_new_container(a: AgentProc, client, old_started: str, timeout: float,
                               since: float = 0.0) -> dict:
    """Wait until the agent reports online again for a container started after the fault; also record whether a
    non-online state was seen on the way (so a stale 'online' cannot pass)."""
    seen: dict = {"not_online_seen": False, "states": []}

    def ok() -> bool:
        st = a.status()
        if not seen["states"] or seen["states"][-1] != st.get("state"):
            seen["states"].append(st.get("state"))
        if st.get("state") != "online" or not st.get("container_running"):
            seen["not_online_seen"] = True
            return False
        if float(st.get("updated_at") or 0) < since:
            return False
        c = _worker(client, a.profile)
        return c is not None and c.status == "running" and _started_at(c) != old_started

    wait_until(ok, timeout, 0.02, "worker online again")
    return seen


def container_kill(a: AgentProc, client, reps: int = 3) -> dict:
    """``docker kill`` the worker container → status online again with a new container start."""
    times, paths = [], []
    for _ in range(reps):
        a.wait_state("online", 60)
        time.sleep(2)
        c = _worker(client, a.profile)
        old = _started_at(c)
        wall = time.time()
        t0 = time.monotonic()
        c.kill()
        paths.append(_online_with_new_container(a, client, old, 120, since=wall))
        times.append(time.monotonic() - t0)
    return {"median_s": statistics.median(times), "max_s": max(times), "runs": times, "state_paths": paths}


def dockerd_restart(a: AgentProc, client_factory, engine, reps: int = 2) -> dict:
    """Stop the private dockerd (SIGTERM: containers stop too), start it again → worker online."""
    total, from_ready, paths = [], [], []
    for _ in range(reps):
        a.wait_state("online", 60)
        time.sleep(2)
        c0 = client_factory()
        old = _started_at(_worker(c0, a.profile))
        c0.close()
        t0 = time.monotonic()
        engine.stop()
        t_start = time.monotonic()
        engine.start()
        t_ready = time.monotonic()
        c = client_factory()
        try:
            path = _online_with_new_container(a, c, old, 180, since=time.time() - (time.monotonic() - t0))
        finally:
            c.close()
        t_end = time.monotonic()
        total.append(t_end - t0)
        from_ready.append(t_end - t_ready)
        paths.append({**path, "engine_stop_s": t_start - t0, "engine_start_s": t_ready - t_start})
    return {"median_s_from_engine_ready": statistics.median(from_ready), "median_s_total": statistics.median(total),
            "runs_from_engine_ready": from_ready, "runs_total": total, "state_paths": paths}


def sample(pids: dict[str, int], seconds: float, interval: float = 1.0) -> dict:
    """RSS (mean/max MB) and CPU % (process time / wall time) for each pid over ``seconds``."""
    import psutil

    procs = {k: psutil.Process(p) for k, p in pids.items()}
    cpu0 = {k: sum(p.cpu_times()[:2]) for k, p in procs.items()}
    rss: dict[str, list[int]] = {k: [] for k in procs}
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        for k, p in procs.items():
            with contextlib.suppress(psutil.NoSuchProcess):
                rss[k].append(p.memory_info().rss)
        time.sleep(interval)
    wall = time.monotonic() - t0
    out = {}
    for k, p in procs.items():
        cpu = sum(p.cpu_times()[:2]) - cpu0[k]
        out[k] = {"rss_mb_mean": statistics.mean(rss[k]) / 2**20, "rss_mb_max": max(rss[k]) / 2**20,
                  "cpu_pct": cpu / wall * 100, "seconds": wall}
    return out


def docked_windows() -> int:
    """Windows embedded in trayer's panel (our icon appears there once docked)."""
    from Xlib import display

    d = display.Display()
    try:
        count = 0

        def walk(w, inside):
            nonlocal count
            try:
                cls = w.get_wm_class() or ()
                children = w.query_tree().children
            except Exception:
                return
            if inside and cls:
                count += 1
            is_panel = "trayer" in cls and (w.get_wm_name() or "") == "panel"
            for c in children:
                walk(c, inside or is_panel)

        walk(d.screen().root, False)
        return count
    finally:
        d.close()


class Tray:
    """The real tray process (``lcai-tray`` without a subcommand) attached to the running agent."""

    def __init__(self, a: AgentProc, log: Path, extra_env: dict[str, str] | None = None):
        self.a = a
        self.log = log
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        """Launch; returns seconds until a new icon is docked in the tray host."""
        before = docked_windows()
        env = {**self.a.env(), **self.extra_env}
        env.setdefault("LCAI_TRAY_HOST_WAIT", "5")
        out = open(self.log, "ab")  # noqa: SIM115
        t0 = time.monotonic()
        self.proc = subprocess.Popen([PYTHON, "-m", "tray_agent", "--profile", self.a.profile, "--network", "devnet"],
                                     env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=str(ROOT), start_new_session=True)
        out.close()
        while time.monotonic() - t0 < 30:
            if docked_windows() > before:
                return time.monotonic() - t0
            if self.proc.poll() is not None:
                raise RuntimeError(f"tray exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            time.sleep(0.01)
        raise TimeoutError("the tray icon did not dock within 30 s")

    def backend(self) -> str:
        """Which pystray backend the tray process loaded (from its mapped libraries)."""
        try:
            maps = Path(f"/proc/{self.proc.pid}/maps").read_text()
        except OSError:
            return "unknown"
        if "appindicator" in maps:
            return "appindicator (GTK)"
        if "libgtk-3" in maps:
            return "gtk"
        return "xorg"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        # wait for the icon to leave the panel
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: docked_windows() == 0, 5, 0.1)


def launch_to_icon(a: AgentProc, log: Path, reps: int = 3) -> dict:
    times = []
    for _ in range(reps):
        t = Tray(a, log)
        try:
            times.append(t.start())
        finally:
            t.stop()
        time.sleep(1)
    return {"median_s": statistics.median(times), "max_s": max(times), "runs": times}


def window_memory(a: AgentProc, tray_pid: int, seconds: float = 15.0) -> dict:
    """Idle → open the dashboard window (a pywebview child, as the tray does) → close it → idle again."""
    import psutil

    from tray_agent.common.api_client import ApiClient
    from tray_agent.windows.manager import WindowManager

    runtime = a.base / "run"
    client = ApiClient.from_api_file(a.api_file)
    wm = WindowManager(runtime, client.login_url, a.base / "logs")
    pids = {"tray": tray_pid, "agent": a.pid}
    before = sample(pids, seconds)
    wm.open("dashboard")
    pid = wait_until(lambda: wm.pid("dashboard"), 20, 0.1, "window process")
    time.sleep(8)  # page loaded, SSE connected
    open_ = sample({**pids, "window": pid}, 5)
    children = [c for c in psutil.Process(pid).children(recursive=True)]
    win_total = open_["window"]["rss_mb_mean"] + sum(c.memory_info().rss for c in children if c.is_running()) / 2**20
    closed = wm.close("dashboard", 15)
    time.sleep(3)
    after = sample(pids, seconds)
    gone = not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    wm.reap()
    return {"before": before, "while_open": open_, "window_tree_rss_mb": win_total, "closed": closed,
            "window_process_gone": gone, "after": after,
            "agent_delta_mb": after["agent"]["rss_mb_mean"] - before["agent"]["rss_mb_mean"],
            "tray_delta_mb": after["tray"]["rss_mb_mean"] - before["tray"]["rss_mb_mean"]}


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY"))


def trayer_running() -> bool:
    import psutil

    return any(p.info["name"] == "trayer" for p in psutil.process_iter(["name"]))
