"""Session-end check: no process the tests started may outlive the run.

A process counts as started by this run when it did not exist when the session began and it is
* a descendant of the pytest process, or
* mentions one of this run's directories (pytest's base temp, the throw-away test HOME) in its command line,
  working directory or environment (LCAI_TRAY_HOME, HOME, ...): that finds orphans too, e.g. a devnet consumer
  whose agent was killed with SIGKILL and which was re-parented to init.

Leftovers get a grace period (teardowns send SIGTERM and do not always wait), then they are listed, stopped by
PID and the run fails (exit status 1). ``LCAI_TEST_ALLOW_LEAKS=1`` turns the failure into a warning.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil
import pytest

GRACE_S = float(os.environ.get("LCAI_TEST_LEAK_GRACE_S", "15"))
_baseline: set[tuple[int, float]] = set()


@dataclass(frozen=True)
class Leak:
    pid: int
    ppid: int
    why: str
    cmdline: str


def _key(p: psutil.Process) -> tuple[int, float]:
    try:
        return p.pid, p.create_time()
    except psutil.Error:
        return p.pid, 0.0


def run_dirs(config: pytest.Config) -> list[str]:
    """Directories that belong to this run only (never '/', never the real home)."""
    dirs: list[str] = []
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is not None:
        try:
            dirs.append(str(factory.getbasetemp().resolve()))
        except OSError:
            pass
    run_dir = os.environ.get("LCAI_TEST_RUN_DIR", "")
    home = os.environ.get("HOME", "")
    if run_dir and home and os.path.realpath(home).startswith(os.path.realpath(run_dir) + os.sep):
        dirs.append(os.path.realpath(home))  # scripts/test.sh's throw-away HOME
    return [d for d in dirs if len(d) > 4]


def _mentions(p: psutil.Process, dirs: list[str]) -> str | None:
    try:
        args = p.cmdline()
    except psutil.Error:
        args = []
    for d in dirs:
        if any((a + os.sep).startswith(d + os.sep) or (d + os.sep) in a for a in args):
            return f"command line mentions {d}"
    try:
        cwd = p.cwd()
    except psutil.Error:
        cwd = ""
    for d in dirs:
        if cwd == d or cwd.startswith(d + os.sep):
            return f"working directory {cwd}"
    try:
        env = p.environ()
    except psutil.Error:
        env = {}
    for name in ("LCAI_TRAY_HOME", "LCAI_TEST_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "HOME"):
        val = env.get(name, "")
        for d in dirs:
            if val == d or val.startswith(d + os.sep):
                return f"environment {name}={val}"
    return None


def find_leaks(dirs: list[str], baseline: set[tuple[int, float]], root_pid: int | None = None) -> list[Leak]:
    """Live processes not in ``baseline`` that descend from ``root_pid`` or mention one of ``dirs``."""
    me = os.getpid()
    root_pid = root_pid or me
    descendants: set[int] = set()
    try:
        descendants = {c.pid for c in psutil.Process(root_pid).children(recursive=True)}
    except psutil.Error:
        pass
    out: list[Leak] = []
    for p in psutil.process_iter(["pid", "ppid", "status"]):
        try:
            if p.pid == me or p.info["status"] in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                continue
            if _key(p) in baseline:
                continue
            why = "child of the pytest process" if p.pid in descendants else _mentions(p, dirs)
            if why:
                out.append(Leak(p.pid, p.info["ppid"] or 0, why, " ".join(p.cmdline())[:300]))
        except psutil.Error:
            continue
    return out


def wait_for_leaks(dirs: list[str], baseline: set[tuple[int, float]], grace_s: float = GRACE_S) -> list[Leak]:
    deadline = time.monotonic() + grace_s
    while True:
        leaks = find_leaks(dirs, baseline)
        if not leaks or time.monotonic() >= deadline:
            return leaks
        time.sleep(0.25)


def stop(leaks: list[Leak]) -> None:
    """Stop exactly the listed processes by PID: SIGTERM, then SIGKILL after 5 s."""
    procs = []
    for leak in leaks:
        try:
            p = psutil.Process(leak.pid)
            p.terminate()
            procs.append(p)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass


def pytest_sessionstart(session: pytest.Session) -> None:
    _baseline.clear()
    _baseline.update(_key(p) for p in psutil.process_iter())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _baseline or getattr(session.config, "workerinput", None) is not None:
        return
    leaks = wait_for_leaks(run_dirs(session.config), _baseline)
    if not leaks:
        return
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"{len(leaks)} process(es) started by the tests were still running at the end of the session:"]
    lines += [f"  pid {lk.pid} (parent {lk.ppid}): {lk.why}: {lk.cmdline}" for lk in leaks]
    lines.append("They were stopped by PID now; fix the test or fixture that started them.")
    if tr is not None:
        tr.write_sep("=", "leaked processes", red=True)
        for ln in lines:
            tr.write_line(ln)
    else:
        print("\n".join(lines))
    stop(leaks)
    if os.environ.get("LCAI_TEST_ALLOW_LEAKS") != "1" and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
