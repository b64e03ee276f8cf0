"""The serial operation runner: one user operation at a time, with progress events, a result and history."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tray_agent.common.errors import AgentError, BusyError
from tray_agent.common.redact import redact

from .events import EventBus
from .history import History

log = logging.getLogger(__name__)

Progress = Callable[[str, "float | None"], None]
OpFn = Callable[[Progress], Any]


@dataclass
class Operation:
    op_id: str
    kind: str
    params: dict
    state: str = "queued"
    progress: list[dict] = field(default_factory=list)
    result: Any = None
    error: dict | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    cancel: threading.Event = field(default_factory=threading.Event)

    def to_dict(self) -> dict:
        return {"op_id": self.op_id, "kind": self.kind, "state": self.state, "progress": self.progress[-20:],
                "result": self.result, "error": self.error, "started": self.started, "finished": self.finished}


class OperationRunner:
    """Runs submitted operations one at a time on a worker thread.

    A second exclusive operation while one runs is refused (BusyError → HTTP 409, CLI exit 4), not queued: a
    queued money action would run later against balances the user no longer sees. ``on_change`` receives the
    running exclusive operation's kind ("" when none), so the Status shows and blocks on it."""

    def __init__(self, bus: EventBus, history: History, network: Callable[[], str],
                 on_change: Callable[[str], None] = lambda kind: None):
        self.bus = bus
        self.history = history
        self._network = network
        self._on_change = on_change
        self._lock = threading.Lock()
        self._current: Operation | None = None
        self._ops: dict[str, Operation] = {}

    @property
    def current(self) -> Operation | None:
        return self._current

    @property
    def busy(self) -> bool:
        """An exclusive operation is queued or running."""
        cur = self._current
        return cur is not None and cur.state in ("queued", "running")

    def submit(self, kind: str, fn: OpFn, params: dict | None = None, *, safe_params: dict | None = None,
               exclusive: bool = True) -> Operation:
        """Start ``fn(progress)`` now. ``safe_params`` (no secrets) is what history stores.

        ``exclusive=False`` is only for actions that never touch the worker key or the container (e.g. paying the
        worker from the devnet wallet while onboarding waits for those funds): they run beside the current one."""
        with self._lock:
            if exclusive and self._current is not None and self._current.state in ("queued", "running"):
                raise BusyError(
                    f"another operation is running ({self._current.kind})",
                    fix="wait for it to finish; progress is on the dashboard",
                )
            op = Operation(uuid.uuid4().hex[:12], kind, safe_params if safe_params is not None else (params or {}))
            if exclusive:
                self._current = op
            self._ops[op.op_id] = op
        if exclusive:
            self._on_change(kind)
        self.history.op_started(op.op_id, kind, self._network(), op.params)
        t = threading.Thread(target=self._run, args=(op, fn), name=f"op-{kind}", daemon=True)
        t.start()
        return op

    def cancel(self, op_id: str) -> bool:
        """Ask a running operation to stop where stopping is safe (it checks ``progress.cancel``)."""
        op = self._ops.get(op_id)
        if op is None or op.state not in ("queued", "running"):
            return False
        op.cancel.set()
        return True

    def get(self, op_id: str) -> dict | None:
        op = self._ops.get(op_id)
        if op:
            return op.to_dict()
        rec = self.history.op(op_id)
        if rec:
            return {"op_id": rec["id"], "kind": rec["kind"], "state": rec["state"], "progress": rec["progress"],
                    "result": rec["result"], "error": rec["error"], "started": rec["started"], "finished": rec["finished"]}
        return None

    def _run(self, op: Operation, fn: OpFn) -> None:
        op.state = "running"

        def progress(message: str, fraction: float | None = None) -> None:
            item = {"i": len(op.progress), "t": time.time(), "message": redact(str(message)), "fraction": fraction}
            op.progress.append(item)
            self.bus.publish("progress", {"op_id": op.op_id, "kind": op.kind, **item})
            self.history.op_progress(op.op_id, op.progress)

        progress.cancel = op.cancel  # type: ignore[attr-defined]  # long waits check it (drain, countdowns)
        progress.record_tx = lambda h, n: self.history.op_tx(op.op_id, h, n)  # type: ignore[attr-defined]
        try:
            result = fn(progress)
            op.result = result.to_dict() if hasattr(result, "to_dict") else result
            op.state = "done"
        except AgentError as e:
            op.error = e.to_dict()
            op.state = "cancelled" if op.cancel.is_set() and e.code in ("drain_cancelled", "cancelled") else "failed"
            log.warning("operation %s failed: %s", op.kind, e)
        except OSError as e:
            from tray_agent.common.errors import os_error

            op.error = os_error(e).to_dict()
            op.state = "failed"
            log.warning("operation %s failed: %s", op.kind, op.error["message"])
        except Exception as e:  # unexpected: keep the agent alive, report clearly
            log.exception("operation %s crashed", op.kind)
            op.error = {"code": "internal_error", "message": redact(f"{type(e).__name__}: {e}"),
                        "fix": "see the log file for details and try again"}
            op.state = "failed"
        op.finished = time.time()
        self.history.op_finished(op.op_id, op.state, op.result, op.error)
        if self._current is op:
            self._on_change("")
        self.bus.publish("result", {"op_id": op.op_id, "kind": op.kind, "ok": op.state == "done",
                                    "result": op.result, "error": op.error})
        op.done.set()
