"""Plain-text renderings of API answers for the CLI (one line per fact, LCAI through the one formatter)."""

from __future__ import annotations

import json
import time
from typing import Any

from tray_agent.common.amounts import format_lcai
from tray_agent.common.words import plural


def lcai(wei: str | int) -> str:
    return format_lcai(int(wei))


def when(ts: int | float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "unknown"


def fmt_result(kind: str, r: Any) -> str:
    """One readable summary per operation (the full result stays in the history / --json status)."""
    if not isinstance(r, dict):
        return "done" if r is None else str(r)
    if kind == "settle":
        lines = [f"released {plural(r.get('released_count', 0), 'job')} ({lcai(r.get('released_wei', 0))} LCAI), "
                 f"withdrew {lcai(r.get('withdrawn_wei', 0))} LCAI to the worker wallet"]
        if r.get("already_released_count"):
            n = r['already_released_count']
            lines.append(f"{plural(n, 'job', verb='were')} already released (e.g. by the worker)")
        if r.get("waiting"):
            lines.append(f"{plural(len(r['waiting']), 'job')} still in the dispute window; next releasable at {when(r.get('next_eta'))}")
        for f in r.get("failed", []):
            lines.append(f"job {f.get('job_id')}: {f.get('message', f.get('error'))}")
        return "\n".join(lines)
    if kind == "withdraw":
        return (f"sent {lcai(r['amount_wei'])} LCAI to {r['to']} (fee {lcai(r['fee_wei'])} LCAI), "
                f"tx {r['tx_hash']}; {lcai(r['remaining_wei'])} LCAI left in the worker wallet")
    if kind == "deregister" and r.get("scheduled"):
        return (f"deregistration scheduled for {when(r.get('at'))}: the worker is stopped and the agent returns the "
                "stake then, by itself (cancel before then with 'lcai-tray deregister --cancel')")
    if kind == "deregister":
        return (f"deregistered: stake {lcai(r.get('stake_returned_wei', 0))} LCAI returned, "
                f"{lcai(r.get('withdrawn_wei', 0))} LCAI earnings withdrawn; the worker is stopped")
    if kind == "clear_stuck":
        jobs = r.get("jobs", [])
        if not jobs:
            return "no stuck jobs"
        return "\n".join(f"job {j['job_id']}: {_cleared(j)} {j.get('message', '')}".rstrip() for j in jobs)
    return json.dumps(r, indent=1, default=str)


def _cleared(j: dict) -> str:
    """A no-fault settlement is a refund (no penalty), never worded as a timeout."""
    a = j.get("action", "")
    if a == "timed_out":
        return f"timed out with claimTimeout (slashed {lcai(j.get('slash_wei', 0))} LCAI)"
    return {"settled_no_fault": "refunded to the consumer without a penalty (no-fault)",
            "waiting": "waiting for the no-fault window", "failed": "not cleared",
            "changed": "changed by someone else"}.get(a, a)


def fmt_status(st: dict) -> str:
    lines = [f"{st['state_label']} — {st['network']} (profile {st['profile']})"]
    told = {n.get("title") for n in st.get("notices") or []}  # a notice's title as the message: told below once
    if st.get("message") and st["message"] not in told:
        lines.append(f"  {st['message']}")
        if st.get("fix"):
            lines.append(f"  fix: {st['fix']}")
    if st.get("address"):
        lines.append(f"  worker: {st['address']}  registered: {'yes' if st.get('registered') else 'no'}")
        lines.append(f"  wallet {lcai(st['wallet_wei'])} LCAI · stake {lcai(st['stake_wei'])} · "
                     f"escrowed {lcai(st['escrowed_wei'])} · releasable {lcai(st['releasable_wei'])} · "
                     f"in contract {lcai(st['worker_balance_wei'])}")
    if st.get("deregister_at"):
        left = max(0, int(float(st["deregister_at"]) - time.time()))
        lines.append(f"  deregistration scheduled for {when(st['deregister_at'])} (in {left // 3600}h "
                     f"{left % 3600 // 60:02d}m): the stake comes back then; cancel: lcai-tray deregister --cancel")
    if st.get("served_models"):
        lines.append(f"  models: {', '.join(st['served_models'])}")
    if st.get("registered"):
        lines.append(f"  jobs running now {st.get('active_jobs', 0)} · the chain still expects {st.get('expected_jobs', 0)}"
                     f" · claimed sessions {st.get('claimed_sessions', 0)}")
    if st.get("idle_reason"):
        lines.append(f"  no job for a while: {st['idle_reason']}")
    for n in st.get("notices") or []:  # the dashboard's banners: the date or amount that matters, and the fix
        mark = {"error": "!!", "warning": "! "}.get(n.get("level"), "- ")
        fix = NOTICE_COMMANDS.get(n.get("action", ""), "")
        lines.append(f"  {mark} {n['title']}" + (f" — {n['detail']}" if n.get("detail") else "")
                     + (f" → {fix}" if fix else ""))
    if st.get("alerts"):
        lines.append(f"  alerts: {', '.join(st['alerts'])}")
    return "\n".join(lines)


# a notice's action as the command that does it in the CLI
NOTICE_COMMANDS = {"reinstate": "lcai-tray reinstate", "top_up": "lcai-tray top-up --amount LCAI",
                   "start": "lcai-tray start (or lcai-tray deregister to leave)", "page:stuck": "lcai-tray clear-stuck",
                   "settle": "lcai-tray settle", "cancel_deregister": "lcai-tray deregister --cancel",
                   "update_image": "lcai-tray open --page settings", "stop_foreign": "lcai-tray worker stop-foreign",
                   "page:recover": "lcai-tray keys list", "page:fund": "lcai-tray open --page fund"}


def fmt_models(d: dict, demand: dict | None = None) -> str:
    """The catalogue; with ``demand`` (GET /api/models/demand) a column of expected LCAI/day for this worker."""
    from .cli_models import estimate_cell

    est = {r["model"]: r for r in (demand or {}).get("models", [])}
    head = f"{'model':24} {'fee (LCAI)':>11} {'memory':>9}  served  pulled"
    rows = [head + (f"  {'jobs/day':>9} {'workers':>7} {'LCAI/day (est.)':>15}" if demand else "")]
    for m in d.get("catalog", []):
        line = (f"{m['name']:24} {lcai(m.get('fee_wei', 0)):>11} {int(m.get('footprint_bytes', 0)) / 2**30:>6.1f}GiB  "
                f"{'yes' if m.get('served') else 'no':6}  {'yes' if m.get('pulled') else 'no':6}")
        if demand:
            r = est.get(m["name"])
            line += (f"  {r['jobs_per_day'] if r else '?':>9} {r['other_workers'] if r else '?':>7} "
                     f"{estimate_cell(r):>15}")
        rows.append(line)
    if demand and demand.get("error"):
        rows.append(f"expected earnings unavailable: {demand['error']}")
    elif demand:
        rows.append(f"demand over the last {demand['window']}; workers = other eligible workers")
        rows.append(f"estimate: {demand['formula']}")
        rows += [f"assumes: {a}" for a in demand.get("assumptions", [])]
    return "\n".join(rows)


def fmt_keys(d: dict) -> str:
    a = d.get("active") or {}
    rows = [f"active: {a.get('address') or 'none'}"]
    for k in d.get("archive", []):
        staked = {True: "STILL STAKED", False: "not staked", None: "stake unknown"}[k.get("still_staked")]
        rows.append(f"  {k['id']}  {k['address']}  {k['network']}  {staked}  ({k.get('reason', '')})")
    return "\n".join(rows)


def _span(seconds: int) -> str:
    m = max(0, int(seconds)) // 60
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min" if m else "under a minute"


def no_fault_text(j: dict, chain_now: int | None) -> str:
    """When the no-fault path (settleStuckJob: a refund to the consumer, no penalty) opens for one stuck job."""
    nf = j.get("no_fault")
    if nf == "open":
        return "no-fault refund: available now"
    if nf == "waiting" and j.get("available_at"):
        left = f" (in {_span(int(j['available_at']) - chain_now)})" if chain_now else ""
        return f"no-fault refund from {when(j['available_at'])} chain time{left}"
    if nf == "unavailable":
        return (f"no no-fault path on this chain: only claimTimeout clears it, slashing {lcai(j.get('slash_wei', 0))} "
                f"LCAI ({j.get('slash_wei', 0)} wei)")
    return "no-fault path not checked (RPC error): clearing tries it first"


def fmt_stuck(d: dict) -> str:
    jobs = d.get("jobs", [])
    if not jobs:
        return "no stuck jobs"
    rows = [f"{plural(len(jobs), 'stuck job')}:"]
    for j in jobs:
        rows.append(f"  job {j['job_id']} ({j['state']}, deadline {when(j.get('deadline'))}): "
                    f"{no_fault_text(j, d.get('chain_now'))}")
    return "\n".join(rows)


def unfinished(kind: str, result: dict | None) -> tuple[str, str] | None:
    """(message, fix) when an operation ended without doing what was asked (a non-zero exit), else None."""
    r = result or {}
    if kind == "clear_stuck" and r.get("jobs"):
        cleared = [j for j in r["jobs"] if j.get("action") in ("settled_no_fault", "timed_out", "changed")]
        if not cleared:
            return (f"no stuck job was cleared ({len(r['jobs'])} still stuck)",
                    "wait for the no-fault window shown above, or run again with --allow-slash (costs a slash)")
    return None
