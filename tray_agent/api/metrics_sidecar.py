"""A separate exporter process for an agent that runs without ``--metrics-listen``: reads the profile's local API.

    python -m tray_agent.api.metrics_sidecar --profile NAME --listen 127.0.0.1:9464 [--token-file PATH]

Same metrics as the in-process listener, built from ``GET /api/status``, ``/api/earnings`` and ``/api/jobs``
(jobs completed is capped at the 200 the jobs view returns; crash-loop and offence counts are in-process only).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tray_agent.api.client import ApiClient, read_api_info
from tray_agent.api.metrics_server import from_options
from tray_agent.common.paths import Paths
from tray_agent.core.metrics_export import build_registry


class ApiSource:
    """Status and facts of the profile's running agent over its local API (facts cached for ``facts_ttl`` s)."""

    def __init__(self, paths: Paths, facts_ttl: float = 5.0):
        self.paths, self.facts_ttl = paths, facts_ttl
        self._facts: tuple[float, dict[str, Any]] = (0.0, {})

    def _client(self) -> ApiClient:
        info = read_api_info(self.paths.api_file)
        if info is None:
            raise RuntimeError("no agent running for this profile")
        return ApiClient(info, timeout=5.0)

    def status(self) -> dict[str, Any]:
        return self._client().get("/api/status")

    def facts(self) -> dict[str, Any]:
        at, cached = self._facts
        if time.monotonic() - at < self.facts_ttl:
            return cached
        c = self._client()
        st = c.get("/api/status")
        facts: dict[str, Any] = {}
        restarts = ((st.get("extra") or {}).get("runtime") or {}).get("restarts")
        if isinstance(restarts, int):
            facts["restarts"] = restarts
        totals = c.get("/api/earnings").get("totals", {})
        withdrawn = int(totals.get("withdrawn_wei") or 0)
        jobs = c.get("/api/jobs").get("jobs", [])
        released = sum(int(j.get("share_wei") or 0) for j in jobs if j.get("state") == "Released")
        facts.update(withdrawn_wei=withdrawn, settled_wei=released, jobs_completed=len(jobs),
                     earned_wei=sum(int(j.get("share_wei") or 0) for j in jobs),
                     last_job_at=max((int(j.get("completed_at") or 0) for j in jobs), default=0))
        try:
            from tray_agent.core.networks import load_networks

            facts["gas_reserve_wei"] = load_networks(self.paths.networks_override)[st["network"]].low_gas_wei
        except Exception:
            pass
        self._facts = (time.monotonic(), facts)
        return facts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lcai-metrics-sidecar", description=__doc__.splitlines()[0])
    p.add_argument("--profile", default=os.environ.get("LCAI_TRAY_PROFILE"))
    p.add_argument("--listen", required=True, metavar="HOST:PORT")
    p.add_argument("--token-file", type=Path)
    args = p.parse_args(argv)
    src = ApiSource(Paths.for_profile(args.profile))
    server = from_options(build_registry(src.status, src.facts), args.listen, args.token_file)
    assert server is not None
    print(f"metrics on {server.url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
