"""Prometheus metrics of one agent (one profile), built on prometheus-client.

``MetricsExporter(status_provider, facts_provider)`` is a custom collector: every scrape calls the providers once
and turns the snapshot into metric families, so nothing is cached and nothing runs between scrapes.

- ``status_provider()`` returns ``Status.to_dict()`` (wei amounts as strings).
- ``facts_provider()`` (optional) returns counts and totals the Status does not hold; every key is optional and a
  missing key leaves its metric out (absent, never a made-up 0): ``restarts``, ``crash_loops``, ``offences``,
  ``slashes``, ``jobs_completed``, ``settled_wei``, ``withdrawn_wei``, ``earned_wei``, ``gas_reserve_wei``,
  ``min_stake_wei``, ``self_check_problems``, ``last_job_at`` (unix s; used while the Status has none).

Every series carries ``network``, ``worker`` (the worker address, lower case; empty before a key exists) and
``profile``. LCAI amounts are float64 LCAI (``*_lcai``): exact to about 1e-6 LCAI below a billion LCAI; the exact
wei stay in ``lcai-tray status --json`` / ``GET /api/status``. Nothing secret is exported: no messages, paths,
endpoints or keys — only numbers, the state name, alert names, model names and the (public) worker address.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from tray_agent import __version__
from tray_agent.common.status import Alert, WorkerState

log = logging.getLogger(__name__)

StatusProvider = Callable[[], Mapping[str, Any]]
FactsProvider = Callable[[], Mapping[str, Any]]

PREFIX = "lcai_worker"
LABELS = ("network", "worker", "profile")
WEI_PER_LCAI = 10**18

# Status fields exported as LCAI gauges: field -> (metric suffix, help)
_AMOUNTS = {
    "stake_wei": ("stake_lcai", "Stake locked in the WorkerRegistry, LCAI"),
    "min_stake_wei": ("min_stake_lcai", "Minimum stake the WorkerRegistry asks for, LCAI"),
    "wallet_wei": ("wallet_balance_lcai", "Native balance of the worker wallet (pays gas), LCAI"),
    "escrowed_wei": ("escrowed_lcai", "Worker share of completed jobs still inside the dispute window, LCAI"),
    "releasable_wei": ("releasable_lcai", "Worker share of jobs past the dispute window, not yet released, LCAI"),
    "worker_balance_wei": ("contract_balance_lcai", "Released earnings held by the JobRegistry, not withdrawn, LCAI"),
}
# facts exported as monotonic LCAI totals: key -> (metric suffix without _total, help)
_TOTALS = {
    "earned_wei": ("earned_lcai", "Worker share of every completed job (escrowed + releasable + settled), LCAI"),
    "settled_wei": ("settled_lcai", "Earnings released (settled) to the worker balance, LCAI"),
    "withdrawn_wei": ("withdrawn_lcai", "Earnings withdrawn from the JobRegistry to the worker wallet, LCAI"),
}
_COUNTERS = {
    "restarts": ("restarts", "Worker container restarts done by the agent's supervisor"),
    "crash_loops": ("crash_loops", "Times the supervisor detected a crash loop"),
    "offences": ("offences", "Offences the WorkerRegistry counts for this worker"),
    "slashes": ("slashes", "Slashes of this worker's stake seen by the agent"),
    "jobs_completed": ("jobs_completed", "Jobs this worker completed (on-chain JobCompleted)"),
}


def lcai(wei: Any) -> float:
    """Wei (int or decimal string) to float LCAI; bad input counts as 0."""
    try:
        return int(wei) / WEI_PER_LCAI
    except (TypeError, ValueError):
        return 0.0


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


class MetricsExporter(Collector):
    """A prometheus-client collector reading one agent's status (and optional facts) at scrape time."""

    def __init__(self, status_provider: StatusProvider, facts_provider: FactsProvider | None = None,
                 clock: Callable[[], float] = time.time):
        self.status_provider = status_provider
        self.facts_provider = facts_provider
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []  # the series depend on the status: do not let the registry call collect() at registration

    def collect(self) -> Iterator[Metric]:
        yield self._build_info()
        try:
            st = dict(self.status_provider())
        except Exception as e:
            log.warning("metrics: status unavailable: %s", type(e).__name__)
            yield _gauge("status_ok", "1 when the agent's status could be read for this scrape", [], [], 0)
            return
        facts: dict[str, Any] = {}
        if self.facts_provider is not None:
            try:
                facts = dict(self.facts_provider() or {})
            except Exception as e:
                log.warning("metrics: facts unavailable: %s", type(e).__name__)
        base = [str(st.get("network", "")), str(st.get("address", "")).lower(), str(st.get("profile", ""))]
        yield _gauge("status_ok", "1 when the agent's status could be read for this scrape", LABELS, base, 1)
        yield from self._state(st, base)
        yield from self._jobs(st, base)
        yield from self._money(st, facts, base)
        yield from self._counts(st, facts, base)
        yield from self._times(st, facts, base)

    # --- families ------------------------------------------------------------------------------------------
    def _build_info(self) -> Metric:
        m = InfoMetricFamily(f"{PREFIX}_build", "Version of the agent that exports these metrics")
        m.add_metric([], {"version": __version__, "python": platform.python_version()})
        return m

    def _state(self, st: dict, base: list[str]) -> Iterator[Metric]:
        state = str(st.get("state", ""))
        g = GaugeMetricFamily(f"{PREFIX}_state", "1 for the worker's current state, 0 for every other state",
                              labels=[*LABELS, "state"])
        for s in WorkerState:
            g.add_metric([*base, s.value], 1.0 if s.value == state else 0.0)
        yield g
        alerts = set(st.get("alerts") or ())
        a = GaugeMetricFamily(f"{PREFIX}_alert", "1 while the agent raises this alert", labels=[*LABELS, "alert"])
        for al in Alert:
            a.add_metric([*base, al.value], 1.0 if al.value in alerts else 0.0)
        yield a
        for field, name, help_ in (("registered", "registered", "1 when the worker is registered on-chain"),
                                   ("container_running", "container_running", "1 when the worker container runs"),
                                   ("gateway_connected", "gateway_connected", "1 when the worker is connected")):
            yield _gauge(name, help_, LABELS, base, 1.0 if st.get(field) else 0.0)
        models = GaugeMetricFamily(f"{PREFIX}_served_model", "1 for each model the worker serves on-chain",
                                   labels=[*LABELS, "model"])
        for name in st.get("served_models") or ():
            models.add_metric([*base, str(name)], 1.0)
        yield models

    def _jobs(self, st: dict, base: list[str]) -> Iterator[Metric]:
        for field, name, help_ in (
                ("active_jobs", "jobs_running", "Jobs the worker process is running now"),
                ("expected_jobs", "jobs_expected", "Jobs the chain still expects from this worker"),
                ("stuck_jobs", "jobs_stuck", "Jobs past their deadline that need clearing"),
                ("claimed_sessions", "claimed_sessions", "Sessions that keep sending jobs to this worker")):
            v = _num(st.get(field))
            if v is not None:
                yield _gauge(name, help_, LABELS, base, v)

    def _money(self, st: dict, facts: dict, base: list[str]) -> Iterator[Metric]:
        amounts = dict(st)
        if not _num(amounts.get("min_stake_wei")) and facts.get("min_stake_wei") is not None:
            amounts["min_stake_wei"] = facts["min_stake_wei"]
        if not _num(amounts.get("min_stake_wei")):
            amounts.pop("min_stake_wei", None)  # 0 means "not read yet": absent, so no rule compares against it
        for field, (name, help_) in _AMOUNTS.items():
            if field in amounts:
                yield _gauge(name, help_, LABELS, base, lcai(amounts[field]))
        if facts.get("gas_reserve_wei") is not None:
            yield _gauge("gas_reserve_lcai", "Wallet balance below which the agent raises low_gas, LCAI", LABELS, base,
                         lcai(facts["gas_reserve_wei"]))
        if "slashed_wei" in st:
            yield _counter("slashed_lcai", "Stake slashed from this worker as far as the agent has seen, LCAI",
                           base, lcai(st["slashed_wei"]))
        for key, (name, help_) in _TOTALS.items():
            if facts.get(key) is not None:
                yield _counter(name, help_, base, lcai(facts[key]))

    def _counts(self, st: dict, facts: dict, base: list[str]) -> Iterator[Metric]:
        for key, (name, help_) in _COUNTERS.items():
            v = _num(facts.get(key))
            if v is not None:
                yield _counter(name, help_, base, v)
        drift = (st.get("extra") or {}).get("drift") or ()
        problems = _num(facts.get("self_check_problems"))
        if problems is None:
            problems = float(len(drift)) if isinstance(drift, (list, tuple)) else 0.0
        yield _gauge("self_check_problems", "Protocol self-check problems (parameters that drifted from the expected)",
                     LABELS, base, problems)

    def _times(self, st: dict, facts: dict, base: list[str]) -> Iterator[Metric]:
        last = _num(st.get("last_job_at")) or _num(facts.get("last_job_at")) or 0.0
        if last > 0:
            yield _gauge("last_job_timestamp_seconds", "Unix time the last job for this worker was seen", LABELS,
                         base, last)
        yield _gauge("suspended_until_timestamp_seconds", "Unix time a suspension ends (0: not suspended)", LABELS,
                     base, _num(st.get("suspended_until")) or 0.0)
        updated = _num(st.get("updated_at"))
        if updated:
            yield _gauge("status_age_seconds", "Seconds since the agent last changed its status", LABELS, base,
                         max(0.0, self.clock() - updated))
        yield _gauge("uptime_seconds", "Seconds the worker container has been up (as the agent reports it)", LABELS,
                     base, _num(st.get("uptime_s")) or 0.0)


def _gauge(name: str, help_: str, labels: list[str] | tuple[str, ...], values: list[str], v: float) -> Metric:
    g = GaugeMetricFamily(f"{PREFIX}_{name}", help_, labels=list(labels))
    g.add_metric(values, v)
    return g


def _counter(name: str, help_: str, values: list[str], v: float) -> Metric:
    c = CounterMetricFamily(f"{PREFIX}_{name}", help_, labels=list(LABELS))
    c.add_metric(values, v)
    return c


def build_registry(status_provider: StatusProvider, facts_provider: FactsProvider | None = None) -> CollectorRegistry:
    """A fresh registry holding only this agent's metrics (no process/platform collectors: nothing about the host)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(MetricsExporter(status_provider, facts_provider))
    return reg


def agent_facts(agent: Any) -> dict[str, Any]:
    """Facts of a running in-process Agent that its Status does not carry (read-only, best effort)."""
    facts: dict[str, Any] = {}
    runtime = getattr(agent, "runtime", None)
    if runtime is not None:
        facts["restarts"] = int(getattr(runtime, "restarts", 0))
        deaths = getattr(runtime, "crash_loops", None)
        if isinstance(deaths, int):
            facts["crash_loops"] = deaths
    chain = agent.owner.facts.chain
    if chain is not None:
        facts["offences"] = int(chain.offense_count)
        facts["min_stake_wei"] = int(chain.min_stake_wei)
    sync = agent.session.sync
    earn = sync.earnings if sync is not None else None
    if earn is not None:
        facts["settled_wei"] = int(earn.released_wei)
        facts["withdrawn_wei"] = int(earn.withdrawn_wei)
        facts["earned_wei"] = int(earn.escrowed_wei) + int(earn.releasable_wei) + int(earn.released_wei)
        facts["jobs_completed"] = len(earn.jobs)
        facts["last_job_at"] = max((int(j.get("completed_at") or 0) for j in earn.jobs), default=0)
    network = getattr(agent, "network", None)
    if network is not None:
        facts["gas_reserve_wei"] = int(getattr(network, "low_gas_wei", 0))
    return facts
