"""Open pywebview windows on demand, each in its own child process, at most one per kind.

A per-kind pid file (created with O_EXCL, so two managers in two processes cannot both spawn) marks an
open window; a second request writes a ``<kind>.focus`` file that the child polls and brings itself to
the front. The child gets the one-time login URL on stdin, never on argv. Closing a window ends only
that child; the agent keeps running. A window dies with the process that opened it (even on SIGKILL):
the child gets the opener's pid in ``LCAI_WINDOW_PARENT`` and watches it (see ``windows.lifeline``).
Children are started from one long-lived thread, because Linux' PR_SET_PDEATHSIG fires when the
*thread* that forked the child ends, not the process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CHILD_MODULE = "tray_agent.windows.child"


@dataclass(frozen=True)
class WindowKind:
    title: str
    page: str
    width: int = 1040
    height: int = 760


KINDS: dict[str, WindowKind] = {
    "dashboard": WindowKind("LightChain worker — Dashboard", "/ui/dashboard.html"),
    "onboarding": WindowKind("LightChain worker — Set up", "/ui/onboarding.html", 960, 760),
    "models": WindowKind("Models this worker serves", "/ui/models.html", 900, 700),
    "speedtest": WindowKind("Speed test", "/ui/speedtest.html", 900, 640),
    "withdraw": WindowKind("Withdraw", "/ui/withdraw.html", 820, 680),
    "stuck": WindowKind("Clear stuck jobs", "/ui/stuck.html", 880, 640),
    "recover": WindowKind("Recover a replaced key", "/ui/recover.html", 900, 640),
    "settings": WindowKind("Settings", "/ui/settings.html", 820, 700),
    "fund": WindowKind("Fund the worker", "/ui/fund.html", 820, 680),
    # money actions from the tray: the page that asks for confirmation, opened on that question
    "settle": WindowKind("Settle earnings", "/ui/dashboard.html?confirm=settle"),
    "deregister": WindowKind("Deregister", "/ui/settings.html?confirm=deregister", 820, 700),
    "stop": WindowKind("Stop the worker", "/ui/dashboard.html?confirm=stop"),
}
PARENT_ENV = "LCAI_WINDOW_PARENT"
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="window-spawn")  # its thread lives with the process


def has_display() -> bool:
    """Whether a window can be shown at all (Linux/BSD need X11 or Wayland)."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def child_command(kind: str) -> list[str]:
    """argv of a window child; the login URL is read from stdin ("-")."""
    if getattr(sys, "frozen", False):  # PyInstaller: the app binary dispatches "_window"
        return [sys.executable, "_window", kind, "-"]
    return [sys.executable, "-m", CHILD_MODULE, kind, "-"]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags = env.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags:  # QtWebEngine refuses to run as root with its sandbox
            env["QTWEBENGINE_CHROMIUM_FLAGS"] = (flags + " --no-sandbox").strip()
    return env


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        import psutil

        p = psutil.Process(pid)
        return p.status() != psutil.STATUS_ZOMBIE and any(CHILD_MODULE in a or a == "_window" for a in p.cmdline())
    except Exception:
        return False


class WindowManager:
    """Opens, focuses and closes window children for the tray and the agent."""

    def __init__(self, runtime_dir: Path, login_url: Callable[[str], str], log_dir: Path | None = None,
                 open_browser: Callable[[str], object] | None = None):
        self.dir = Path(runtime_dir) / "windows"
        self.login_url = login_url  # next_path -> one-time URL (mints a login code)
        self.log_dir = log_dir
        self.open_browser = open_browser
        self._procs: dict[str, subprocess.Popen] = {}

    def _pid_file(self, kind: str) -> Path:
        return self.dir / f"{kind}.pid"

    def pid(self, kind: str) -> int | None:
        """Pid of the open window of this kind, or None."""
        try:
            info = json.loads(self._pid_file(kind).read_text() or "{}")
        except (OSError, ValueError):
            return None
        pid = int(info.get("pid", 0))
        return pid if _pid_alive(pid) else None

    def open(self, kind: str, query: str = "") -> str:
        """Open (or focus) the window of ``kind``. Returns "opened", "focused", "browser" or "unavailable"."""
        spec = KINDS[kind]
        next_path = spec.page + (("&" if "?" in spec.page else "?") + query if query else "")
        if not has_display():
            log.warning("no display for a window: open the dashboard in a browser with `lcai-tray open`")
            return "unavailable"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        for _ in range(3):
            try:
                fd = os.open(self._pid_file(kind), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                if self._claimed_by_live_window(kind):
                    self.focus(kind)
                    return "focused"
                self._pid_file(kind).unlink(missing_ok=True)  # stale: its child died without cleaning up
                continue
            try:
                proc = self._spawn(kind, next_path)
            except Exception:
                os.close(fd)
                self._pid_file(kind).unlink(missing_ok=True)
                raise
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": proc.pid, "kind": kind, "started": time.time()}, f)
            return "opened"
        raise RuntimeError(f"could not claim the {kind} window lock in {self.dir}")

    def _claimed_by_live_window(self, kind: str) -> bool:
        f = self._pid_file(kind)
        try:
            raw = f.read_text()
            age = time.time() - f.stat().st_mtime
        except OSError:
            return False
        if not raw.strip():
            return age < 10  # another manager is spawning it right now
        try:
            return _pid_alive(int(json.loads(raw).get("pid", 0)))
        except ValueError:
            return False

    def _spawn(self, kind: str, next_path: str) -> subprocess.Popen:
        url = self.login_url(next_path)
        out = subprocess.DEVNULL
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            out = open(self.log_dir / f"window-{kind}.log", "ab")  # noqa: SIM115 - handed to the child
        kw: dict = {"start_new_session": True} if os.name == "posix" else {
            "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        env = child_env()
        env["LCAI_WINDOWS_DIR"] = str(self.dir)
        env[PARENT_ENV] = str(os.getpid())
        try:
            proc = _SPAWNER.submit(subprocess.Popen, child_command(kind), stdin=subprocess.PIPE, stdout=out,
                                   stderr=subprocess.STDOUT, env=env, close_fds=True, **kw).result()
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        assert proc.stdin is not None
        proc.stdin.write((url + "\n").encode())
        proc.stdin.close()
        self._procs[kind] = proc
        log.info("opened the %s window (pid %d)", kind, proc.pid)
        return proc

    def focus(self, kind: str) -> None:
        """Ask the open window of this kind to come to the front."""
        (self.dir / f"{kind}.focus").write_text(str(time.time()))

    def close(self, kind: str, timeout: float = 10.0) -> bool:
        """Ask the window to close (as if the user closed it) and wait for its process to end."""
        pid = self.pid(kind)
        if pid is None:
            return True
        (self.dir / f"{kind}.close").write_text(str(time.time()))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self._procs.get(kind)
            if proc is not None and proc.poll() is not None:
                return True
            if not _pid_alive(pid):
                return True
            time.sleep(0.1)
        return False

    def reap(self) -> None:
        """Collect exit codes of finished children this manager started (no zombies)."""
        for kind, proc in list(self._procs.items()):
            if proc.poll() is not None:
                del self._procs[kind]
