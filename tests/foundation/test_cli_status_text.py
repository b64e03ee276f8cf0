"""Issue 13 §1 in the CLI: `lcai-tray status` tells each risky state as the dashboard does — the agent's words with
the date or amount, and the command that fixes it — not a bare alert name."""

from __future__ import annotations

from tests.risky_states import risky_states
from tray_agent.cli_format import fmt_status

COMMANDS = {"suspended": "lcai-tray reinstate", "slashed": "lcai-tray top-up", "understaked": "lcai-tray top-up",
            "paused_with_sessions": "lcai-tray start", "stuck_jobs": "lcai-tray clear-stuck"}


def test_status_text_names_each_risky_state_with_its_fact_and_command():
    online, rows = risky_states()
    assert "!" not in fmt_status(online.to_dict()).replace("LightChain", "")
    for kind, (st, words) in rows.items():
        text = fmt_status(st.to_dict())
        line = next(x for x in text.splitlines() if x.lstrip().startswith("!"))
        assert st.notices[0].title in line and text.count(st.notices[0].title) == 1, text
        assert words in text and COMMANDS[kind] in line, (kind, text)
        assert line.lstrip().startswith("!"), line  # marked as a risk, not an info line


def test_status_text_separates_running_from_expected_jobs_and_says_why_idle():
    online, _ = risky_states()
    st = online.evolve(active_jobs=1, expected_jobs=24, claimed_sessions=3,
                       idle_reason="no demand for your models on devnet: no job for them in the last 24 h")
    text = fmt_status(st.to_dict())
    assert "jobs running now 1 · the chain still expects 24 · claimed sessions 3" in text
    assert "no job for a while: no demand for your models on devnet" in text
