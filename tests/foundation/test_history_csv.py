"""The history CSV carries the amount each money operation moved, and the jobs when the chain gave them."""

from __future__ import annotations

import csv
import io

from tray_agent.core.history import History


def test_csv_has_amounts_for_settle_slash_and_stake_return(tmp_path):
    h = History(tmp_path / "h.sqlite")
    ops = [("s1", "settle", {"released_wei": "96000000000000000"}),
           ("d1", "deregister", {"returned_wei": "5000100000000000000000"}),
           ("c1", "clear_stuck", {"jobs": [{"action": "timed_out", "slash_wei": "100000000000000000000"},
                                           {"action": "settled_no_fault", "slash_wei": "0"}]})]
    for op_id, kind, result in ops:
        h.op_started(op_id, kind, "devnet", {})
        h.op_finished(op_id, "done", result, None)
    text = h.csv_export("devnet", jobs=[{"job_id": 7, "state": "Released", "completed_at": 1_800_000_000,
                                         "share_wei": "12"},
                                        {"job_id": 8, "state": "TimedOut", "timed_out": True, "completed_at": 0,
                                         "deadline": 1_800_000_600, "share_wei": "0", "slash_wei": "25000000000000000000"}])
    rows = {(r["type"], r["detail"].split()[0]): r for r in csv.DictReader(io.StringIO(text))}
    # a slash someone else claimed (claimTimeout on a job of this worker): its own row, the amount in amount_wei
    slash = rows[("slash", "job")]
    assert slash["amount_wei"] == "25000000000000000000" and slash["detail"].startswith("job 8 ")
    assert slash["time"] == "2027-01-15T08:10:00Z" and slash["state"] == "TimedOut"
    assert rows[("operation", "settle")]["amount_wei"] == "96000000000000000"
    assert rows[("operation", "deregister")]["amount_wei"] == "5000100000000000000000"
    assert rows[("operation", "clear_stuck")]["amount_wei"] == "100000000000000000000"
    assert rows[("job", "job")]["amount_wei"] == "12" and rows[("job", "job")]["state"] == "Released"
    h.close()


def test_csv_marks_automatic_operations(tmp_path):
    h = History(tmp_path / "h.sqlite")
    h.op_started("a1", "settle", "devnet", {"origin": "automatic"})
    h.op_finished("a1", "done", {"released_wei": "5"}, None)
    h.op_started("a2", "settle", "devnet", {"origin": "automatic"})
    h.op_finished("a2", "skipped", None, {"code": "fee_too_high", "message": "skipped: the fee", "fix": "wait"})
    rows = [r for r in csv.DictReader(io.StringIO(h.csv_export("devnet"))) if r["type"] == "operation"]
    assert [(r["detail"], r["amount_wei"], r["state"]) for r in rows] == [
        ("settle (automatic)", "5", "done"), ("settle (automatic)", "0", "skipped")]
    h.close()
