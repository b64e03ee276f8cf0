"""Shared steps of the kill -9 fault-point tests (test_kill9_money.py, test_kill9_keys.py): relaunch the agent with
a fault point set (LCAI_FAILPOINTS), read the killed operation back, and write the point × outcome matrix."""

from __future__ import annotations

from pathlib import Path

from tests.harness import AgentProc

MATRIX_HEAD = ["| Fault point | Operation | Sent before kill | After relaunch | Rerun | Funds / keys |",
               "|---|---|---|---|---|---|"]


def relaunch(a: AgentProc, spec: str | None) -> None:
    """kill -9 when idle (anvil and the container live on) and start again with ``spec`` (or none)."""
    a.kill9()
    if spec:
        a.extra_env["LCAI_FAILPOINTS"] = spec
    else:
        a.extra_env.pop("LCAI_FAILPOINTS", None)
    a.start()


def after_relaunch(a: AgentProc, op_id: str) -> dict:
    """Relaunch without fault points; the killed operation must read ``interrupted`` with a fix."""
    relaunch(a, None)
    rec = a.get(f"/api/ops/{op_id}").body
    assert rec["state"] == "interrupted", rec
    assert rec["error"]["code"] == "interrupted" and rec["error"].get("fix"), rec
    return rec


def write_matrix(path: Path, rows: list[dict]) -> None:
    """One markdown row per kill point a test ran (and asserted) in this session."""
    lines = list(MATRIX_HEAD)
    for m in rows:
        lines.append(f"| `{m['point']}` | {m['op']} | {m.get('sent', '')} | {m.get('after', '')} | "
                     f"{m.get('rerun', '')} | {m.get('funds', '')} |")
    path.write_text("\n".join(lines) + "\n")
