"""CLI exit codes mean what they say: clearing stuck jobs that clears nothing is not a success."""

from tray_agent.cli_format import unfinished


def test_clear_stuck_that_cleared_nothing_is_a_failure():
    waiting = {"jobs": [{"job_id": 1, "action": "waiting"}, {"job_id": 2, "action": "failed"}]}
    msg, fix = unfinished("clear_stuck", waiting)
    assert "no stuck job was cleared (2 still stuck)" == msg and "--allow-slash" in fix
    assert unfinished("clear_stuck", {"jobs": [{"job_id": 1, "action": "settled_no_fault"}]}) is None
    assert unfinished("clear_stuck", {"jobs": []}) is None  # nothing was stuck: nothing to do is fine
    assert unfinished("settle", {"released_count": 0}) is None
