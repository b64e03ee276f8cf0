"""The simulated devnet consumer as its own process — another actor on the chain, not agent work.

It dies with the agent, also after ``kill -9`` of the agent (Linux parent-death signal, and a parent-watch thread
in the child everywhere), and a relaunch never runs two consumers on one chain: the child holds a lock file per
chain; when a live consumer already holds it, this handle reuses that one instead of starting another.
A bundled (frozen) app cannot run ``python -m``: the consumer then runs as a thread that holds the same lock.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

from .lifeline import ChainLock, chain_lock_path, spawn, stop_child, terminate_leftover

log = logging.getLogger(__name__)


class ConsumerProcess:
    """Start (or reuse) the devnet consumer of one chain. ``models``: name → weight (None = every devnet model)."""

    def __init__(self, rpc_url: str, chain_id: int, rate_per_min: float, log_file: Path, *,
                 models: dict[str, float] | None = None, lock_dir: Path | None = None):
        self.log_file = Path(log_file)
        self.lock_path = chain_lock_path(lock_dir or self.log_file.parent, chain_id, rpc_url)
        self.proc: subprocess.Popen | None = None
        self.thread_consumer = None  # frozen app: in-process Consumer
        self._lock: ChainLock | None = None
        self.reused_pid = ChainLock(self.lock_path).holder()
        if self.reused_pid is not None:
            log.info("devnet consumer already running on this chain (pid %s): reusing it", self.reused_pid)
            return
        if getattr(sys, "frozen", False):
            self._start_thread(rpc_url, chain_id, rate_per_min, models)
            return
        cmd = [sys.executable, "-m", "tray_agent.devnet.consumer", "--rpc", rpc_url, "--chain-id", str(chain_id),
               "--rate", str(rate_per_min), "--parent-pid", str(_pid()), "--lock", str(self.lock_path)]
        for name, weight in (models or {}).items():
            cmd += ["--model", f"{name}={weight}"]
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as out:
            self.proc = spawn(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    def _start_thread(self, rpc_url: str, chain_id: int, rate: float, models: dict[str, float] | None) -> None:
        from .consumer import Consumer

        lock = ChainLock(self.lock_path)
        if not lock.acquire():
            self.reused_pid = lock.holder()
            return
        self._lock = lock
        self.thread_consumer = Consumer(rpc_url, chain_id, None, models, peers=True).start(rate)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else self.reused_pid

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        if self.thread_consumer is not None:
            return True
        return ChainLock(self.lock_path).holder() is not None

    def stop(self) -> None:
        if self.thread_consumer is not None:
            self.thread_consumer.stop()
            self.thread_consumer = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self.proc is not None and self.proc.poll() is None:
            stop_child(self.proc)
        elif self.reused_pid is not None:
            _terminate_consumer(self.reused_pid)


def _pid() -> int:
    import os

    return os.getpid()


def _terminate_consumer(pid: int) -> None:
    """Stop a reused consumer: only a process that really is the devnet consumer."""
    terminate_leftover(pid, "tray_agent.devnet.consumer")
