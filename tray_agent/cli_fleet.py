"""``lcai-tray fleet status --prometheus URL [--json]``: one table for every worker Prometheus scrapes.

Reads only the Prometheus HTTP API (``/api/v1/query``, instant queries; stdlib urllib, imported lazily), never the
agents. Rows are
keyed by (instance, profile); a target that does not answer shows as ``unreachable``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .cli_codes import EXIT_FAILED, EXIT_INPUT, EXIT_OK
from .common.words import plural

QUERIES = {
    "state": 'lcai_worker_state{job="%(job)s"} == 1',
    "models": 'lcai_worker_served_model{job="%(job)s"} == 1',
    "jobs_per_hour": 'rate(lcai_worker_jobs_completed_total{job="%(job)s"}[1h]) * 3600',
    "earned_24h": 'increase(lcai_worker_earned_lcai_total{job="%(job)s"}[24h])',
    "stake": 'lcai_worker_stake_lcai{job="%(job)s"}',
    "alerts": 'ALERTS{alertstate="firing", job="%(job)s"}',
    "up": 'up{job="%(job)s"}',
}


class FleetError(Exception):
    def __init__(self, message: str, fix: str = ""):
        super().__init__(message)
        self.message, self.fix = message, fix


@dataclass
class WorkerRow:
    instance: str
    profile: str = ""
    network: str = ""
    worker: str = ""
    state: str = "unknown"
    models: list[str] = field(default_factory=list)
    jobs_per_hour: float | None = None
    earned_24h_lcai: float | None = None
    stake_lcai: float | None = None
    alerts: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return self.instance.rsplit(":", 1)[0] if self.instance.count(":") == 1 else self.instance


class Prometheus:
    """Instant queries against ``/api/v1/query`` (optional bearer token)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0):
        import urllib.parse

        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise FleetError(f"--prometheus {url!r} is not an http(s) URL", "e.g. http://127.0.0.1:9090")
        self.base = url.rstrip("/")
        self.token, self.timeout = token, timeout

    def query(self, expr: str) -> list[dict[str, Any]]:
        import urllib.error  # lazy: the main CLI parser imports this module on every start
        import urllib.parse
        import urllib.request

        req = urllib.request.Request(f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            try:
                msg = json.loads(e.read()).get("error", "")
            except ValueError:
                msg = ""
            raise FleetError(f"Prometheus answered HTTP {e.code} {msg}".strip(),
                             "check the URL and the token") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise FleetError(f"cannot reach Prometheus at {self.base}: {reason}",
                             "check --prometheus (e.g. http://127.0.0.1:9090)") from None
        if body.get("status") != "success":
            raise FleetError(f"Prometheus query failed: {body.get('error', 'unknown error')}")
        data = body.get("data", {})
        if data.get("resultType") != "vector":
            raise FleetError(f"unexpected Prometheus result type {data.get('resultType')!r}")
        return data.get("result", [])


def collect(prom: Prometheus, job: str = "lcai-workers") -> list[WorkerRow]:
    res = {k: prom.query(q % {"job": job}) for k, q in QUERIES.items()}
    rows: dict[tuple[str, str], WorkerRow] = {}

    def row(m: dict[str, str]) -> WorkerRow:
        key = (m.get("instance", ""), m.get("profile", ""))
        if key not in rows:
            rows[key] = WorkerRow(instance=key[0], profile=key[1])
        r = rows[key]
        r.network = r.network or m.get("network", "")
        r.worker = r.worker or m.get("worker", "")
        return r

    for s in res["state"]:
        row(s["metric"]).state = s["metric"].get("state", "unknown")
    for s in res["models"]:
        r = row(s["metric"])
        r.models = sorted({*r.models, s["metric"].get("model", "")})
    for key, attr in (("jobs_per_hour", "jobs_per_hour"), ("earned_24h", "earned_24h_lcai"), ("stake", "stake_lcai")):
        for s in res[key]:
            setattr(row(s["metric"]), attr, _value(s))
    for s in res["up"]:
        if _value(s) == 0:
            inst = s["metric"].get("instance", "")
            for r in [r for (i, _), r in rows.items() if i == inst] or [row({"instance": inst})]:
                r.state = "unreachable"
    for s in res["alerts"]:
        m = s["metric"]
        targets = [row(m)] if m.get("profile") else [r for (i, _), r in rows.items() if i == m.get("instance")]
        for r in targets or [row(m)]:
            r.alerts = sorted({*r.alerts, m.get("alertname", "")})
    return sorted(rows.values(), key=lambda r: (r.host, r.profile, r.instance))


def _value(sample: dict) -> float | None:
    try:
        v = float(sample["value"][1])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None if v != v else v  # NaN (e.g. no samples in the rate window) → unknown


def _num(v: float | None, digits: int) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def format_table(rows: list[WorkerRow]) -> str:
    head = ["HOST", "PROFILE", "STATE", "MODELS", "JOBS/H", "EARNED 24H", "STAKE", "ALERTS"]
    body = [[r.host, r.profile or "-", r.state, ",".join(r.models) or "-", _num(r.jobs_per_hour, 1),
             _num(r.earned_24h_lcai, 4), _num(r.stake_lcai, 0), ",".join(r.alerts) or "-"] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=False)]
    right = {4, 5, 6}
    lines = ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
             .rstrip() for line in [head, *body]]
    online = sum(r.state == "online" for r in rows)
    alerting = sum(bool(r.alerts) for r in rows)
    lines.append(f"{plural(len(rows), 'worker')}: {online} online, {alerting} with alerts")
    return "\n".join(lines)


def add_parser(subparsers: Any) -> None:
    """Register ``fleet status`` on the main CLI's subparsers."""
    f = subparsers.add_parser("fleet", help="watch many workers through Prometheus")
    fsub = f.add_subparsers(dest="fleet_cmd", metavar="status", required=True, parser_class=type(f))
    s = fsub.add_parser("status", help="one table for every worker Prometheus scrapes")
    s.add_argument("--prometheus", required=True, metavar="URL", help="Prometheus base URL, e.g. http://127.0.0.1:9090")
    s.add_argument("--job", default="lcai-workers", help="scrape job of the agents (default: lcai-workers)")
    s.add_argument("--bearer-token-file", type=Path, metavar="PATH", help="token for a Prometheus behind a proxy")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--timeout", type=float, default=10.0, help="seconds per query (default 10)")
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``lcai-tray fleet status``: 0 ok, 1 Prometheus unreachable or failing, 2 bad input."""
    try:
        token = args.bearer_token_file.read_text().strip() if args.bearer_token_file else None
        rows = collect(Prometheus(args.prometheus, token, args.timeout), args.job)
    except OSError as e:
        return _fail(f"cannot read the token file: {e.strerror}", "check --bearer-token-file", EXIT_INPUT)
    except FleetError as e:
        code = EXIT_INPUT if "is not an http" in e.message else EXIT_FAILED
        return _fail(e.message, e.fix, code)
    if args.json:
        out = [{"host": r.host, **asdict(r)} for r in rows]
        print(json.dumps({"prometheus": args.prometheus, "job": args.job, "workers": out}, indent=1))
    else:
        print(format_table(rows) if rows else f"no workers in job {args.job!r} at {args.prometheus}")
    return EXIT_OK


def _fail(message: str, fix: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    if fix:
        print(f"fix:   {fix}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m tray_agent.cli_fleet fleet status --prometheus URL``) until the main CLI wires it."""
    p = argparse.ArgumentParser(prog="lcai-tray")
    add_parser(p.add_subparsers(dest="cmd", required=True))
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
