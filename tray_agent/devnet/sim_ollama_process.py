"""The devnet's simulated Ollama as its own process, like the devnet consumer (:mod:`.consumer_process`).

It dies with the agent, also after ``kill -9`` of the agent (:func:`~.lifeline.spawn`'s parent-death signal and a
parent-watch thread in the child), and there is never more than one per profile and network: the child holds a lock
file (:class:`~.lifeline.ChainLock`) keyed by its state file. A relaunch that finds a live holder (a leftover of an
agent that just died, not yet gone) replaces it — stops it, then starts its own on the same port — so the worker
container's ``OLLAMA_URL`` stays the same. The child writes its base URL into a ready file once it listens.

A bundled (frozen) app cannot run ``python -m``: the server then runs in-process (a thread) holding the same lock.
Tests that need :meth:`SimOllama.fail` / ``hang`` / ``requests`` use :class:`~.sim_ollama.SimOllama` directly.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .lifeline import ChainLock, spawn, stop_child, terminate_leftover, watch_parent

log = logging.getLogger(__name__)
MODULE = "tray_agent.devnet.sim_ollama_process"
LOCKED_EXIT = 3


def lock_path_for(lock_dir: Path, state_file: Path) -> Path:
    """One lock per profile and network: the state file (installed models) names both."""
    tag = hashlib.sha256(str(Path(state_file).resolve()).encode()).hexdigest()[:10]
    return Path(lock_dir) / f"devnet-sim-ollama-{tag}.lock"


class SimOllamaProcess:
    """Start the simulated Ollama child (replacing a leftover one of this profile); ``url`` once it listens."""

    def __init__(self, state_file: Path, log_file: Path, lock_dir: Path, *, port: int = 0, time_scale: float = 1.0,
                 start_timeout_s: float = 30.0):
        self.lock_path = lock_path_for(lock_dir, state_file)
        self.ready_file = self.lock_path.with_suffix(".url")
        self.proc: subprocess.Popen | None = None
        self.replaced_pid: int | None = None
        self._stop_in_process: Callable[[], None] | None = None
        self._lock: ChainLock | None = None
        self.url = ""
        self._replace_leftover()
        with contextlib.suppress(FileNotFoundError):
            self.ready_file.unlink()
        if getattr(sys, "frozen", False):
            self._start_in_process(state_file, port, time_scale)
            return
        cmd = [sys.executable, "-m", MODULE, "--port", str(port), "--state-file", str(state_file),
               "--time-scale", repr(time_scale), "--parent-pid", str(os.getpid()), "--lock", str(self.lock_path),
               "--ready-file", str(self.ready_file)]
        log_file = Path(log_file)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "ab") as out:
            self.proc = spawn(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self.url = self._await_ready(log_file, start_timeout_s)

    # --- start --------------------------------------------------------------------------------------------
    def _replace_leftover(self) -> None:
        holder = ChainLock(self.lock_path).holder()
        if holder is None or holder == os.getpid():
            return
        log.info("devnet: a simulated Ollama of this profile still runs (pid %s): replacing it", holder)
        self.replaced_pid = holder
        _terminate_sim_ollama(holder)
        deadline = time.monotonic() + 10
        while ChainLock(self.lock_path).holder() is not None and time.monotonic() < deadline:
            time.sleep(0.05)

    def _await_ready(self, log_file: Path, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        assert self.proc is not None
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                url = self.ready_file.read_text().strip()
                if url:
                    return url
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        tail = ""
        with contextlib.suppress(OSError):
            tail = log_file.read_text(errors="replace")[-400:].strip()
        raise RuntimeError(f"the simulated Ollama did not start (see {log_file}): {tail or 'no output'}")

    def _start_in_process(self, state_file: Path, port: int, time_scale: float) -> None:
        from .sim_ollama import start_sim_ollama

        lock = ChainLock(self.lock_path)
        if not lock.acquire():
            raise RuntimeError(f"another simulated Ollama (pid {lock.holder()}) holds {self.lock_path}")
        self._lock = lock
        self.url, self._stop_in_process = start_sim_ollama(port=port, state_file=state_file, time_scale=time_scale)

    # --- state / stop -------------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else (os.getpid() if self._lock is not None else None)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1]) if self.url else 0

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self._stop_in_process is not None

    def stop(self) -> None:
        if self._stop_in_process is not None:
            self._stop_in_process()
            self._stop_in_process = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        stop_child(self.proc)


def _terminate_sim_ollama(pid: int) -> None:
    """Stop a leftover: only a process that really is the simulated Ollama."""
    terminate_leftover(pid, MODULE)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="devnet: the simulated Ollama server as a child of the agent")
    p.add_argument("--port", type=int, default=0, help="preferred port (a taken one falls back to a free one)")
    p.add_argument("--state-file", default=None, help="installed models persist here")
    p.add_argument("--time-scale", type=float, default=1.0, help="real waiting = this × the simulated time")
    p.add_argument("--parent-pid", type=int, default=0, help="exit when this process is gone")
    p.add_argument("--lock", default=None, help="lock file of this profile/network: refuse to run a second one")
    p.add_argument("--ready-file", default=None, help="the base URL is written here once the server listens")
    a = p.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    watch_parent(a.parent_pid, on_orphan=stop.set)
    lock = ChainLock(Path(a.lock)) if a.lock else None
    if lock is not None and not lock.acquire():
        print(f"another simulated Ollama (pid {lock.holder()}) already runs for this profile; not starting a second",
              file=sys.stderr)
        return LOCKED_EXIT
    from tray_agent.common.atomic import atomic_write

    from .sim_ollama import start_sim_ollama

    url, stop_server = start_sim_ollama(port=a.port, state_file=Path(a.state_file) if a.state_file else None,
                                        time_scale=a.time_scale)
    if a.ready_file:
        atomic_write(Path(a.ready_file), url)
    print(f"simulated Ollama at {url}", file=sys.stderr, flush=True)
    try:
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        pass
    stop_server()
    return 0


if __name__ == "__main__":
    sys.exit(main())
