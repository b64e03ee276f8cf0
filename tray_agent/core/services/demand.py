"""Demand per model and the suggested model set: chain reads (cached per network on disk, refreshed on request at
most every ``MIN_REFRESH_S``), the estimate, the memory fit and the newest speed test per model."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tray_agent.common.errors import AgentError, ValidationError

from ..chain.client import ChainClient
from ..chain.demand import Demand, DemandIndex
from ..demand import ASSUMPTIONS, Speed, estimate, suggest, window_label
from ..history import History
from .models import ModelService

log = logging.getLogger(__name__)
DEFAULT_WINDOW_H = 24.0
MAX_WINDOW_H = 24.0 * 30
MIN_REFRESH_S = 15.0
FORMULA = "LCAI/day = jobs per day ÷ (other workers serving the model + 1) × fee per job × worker share"


def parse_window_h(value: Any) -> float:
    """Hours of the demand window (default 24): a number in (0, 720]."""
    if value in (None, ""):
        return DEFAULT_WINDOW_H
    try:
        h = float(value)
    except (TypeError, ValueError):
        h = -1.0
    if not (0 < h <= MAX_WINDOW_H) or h != h:
        raise ValidationError(f"the demand window must be a number of hours above 0 and at most {MAX_WINDOW_H:g}, "
                              f"not {str(value)[:20]!r}", fix="e.g. window_h=24 (the last day) or 168 (a week)",
                              field="window_h")
    return h


class DemandService:
    def __init__(self, chain: ChainClient, cache_path: Path, models: ModelService, history: History,
                 network_name: str, address: Callable[[], str | None]):
        self.index = DemandIndex(chain, cache_path)
        self.models = models
        self.history = history
        self.network_name = network_name
        self.address = address
        self._lock = threading.Lock()
        self._last: tuple[float, int, Demand] | None = None   # (monotonic time, window_s, demand)

    def demand(self, window_h: float = DEFAULT_WINDOW_H) -> Demand:
        """Fresh demand for the allowed models (cached for MIN_REFRESH_S per window)."""
        window_s = int(window_h * 3600)
        with self._lock:
            last = self._last
            if last is not None and last[1] == window_s and time.monotonic() - last[0] < MIN_REFRESH_S:
                return last[2]
            names = sorted(self.models.allowed())
            d = self.index.refresh(names, window_s, self.address())
            self._last = (time.monotonic(), window_s, d)
            log.info("demand refresh: %d blocks read in %d requests", d.blocks_scanned, d.rpc_requests)
            return d

    def view(self, window_h: float = DEFAULT_WINDOW_H) -> dict:
        d = self.demand(window_h)
        est = estimate(d)
        by = {m.name: m for m in d.models}
        rows = [{**e.to_dict(), "workers": by[n].workers, "serving": by[n].serving} for n, e in est.items()]
        return {"window_s": d.window_s, "window": window_label(d.window_s), "covered_s": d.covered_s,
                "head_block": d.head_block, "worker_fee_bps": d.worker_fee_bps, "formula": FORMULA,
                "assumptions": list(ASSUMPTIONS) + self._coverage_note(d), "models": rows,
                "rpc_requests": d.rpc_requests, "blocks_scanned": d.blocks_scanned}

    @staticmethod
    def _coverage_note(d: Demand) -> list[str]:
        if d.covered_s < d.window_s:
            return [f"The chain is only {window_label(d.covered_s)} old: jobs per day are scaled up from that short "
                    "sample, so treat them with care."]
        return []

    def speeds(self) -> dict[str, Speed]:
        """The newest finished speed test result per model on this network."""
        out: dict[str, Speed] = {}
        for op in self.history.operations(kind="speedtest", state="done", limit=20):
            r = op.get("result") or {}
            if op.get("network") != self.network_name or not isinstance(r, dict):
                continue
            for m in r.get("models") or []:
                name, p95 = m.get("model"), m.get("p95_job_s")
                if name and name not in out and isinstance(p95, (int, float)) and r.get("budget_s"):
                    out[name] = Speed(float(p95), float(r.get("deadline_s") or 0), float(r["budget_s"]))
        return out

    def suggestion(self, current: list[str], window_h: float = DEFAULT_WINDOW_H) -> dict:
        d = self.demand(window_h)
        footprints, usable = self.models.footprints(sorted(self.models.allowed()))
        if usable is None:
            raise AgentError("this machine's GPU memory is unknown, so no model set can be checked against it",
                             fix="enter the GPU memory in Settings, then ask again", code="memory_unknown")
        s = suggest(estimate(d), footprints, usable, self.speeds(), current, window_label(d.window_s))
        return {**s.to_dict(), "window": window_label(d.window_s), "formula": FORMULA,
                "assumptions": list(ASSUMPTIONS) + self._coverage_note(d)}
