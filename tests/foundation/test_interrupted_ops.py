"""An interrupted operation says, per announced transaction, whether it was mined (never a generic fix)."""

from tray_agent.core.interrupted_ops import MINED, NOT_MINED, PENDING, explain, sent_lines, tx_states

H1 = "0x1234567890ab…cdef01234567"
H2 = "0xaaaaaaaaaaaa…bbbbbbbbbbbb"


def test_lines_written_before_each_broadcast_are_read_back():
    progress = [{"message": "scanning completed jobs"}, {"message": f"sending transfer transaction {H1} (nonce 7)"},
                {"message": f"sending releaseJobs transaction {H2} (nonce 8)"}]
    assert sent_lines(progress) == [("transfer", H1, 7), ("releaseJobs", H2, 8)]


def test_mined_says_do_not_send_again_and_unmined_says_run_again():
    msg, fix = explain([("transfer", H1, MINED)])
    assert H1 in msg and "was mined" in msg and "do not send it again" in fix
    msg, fix = explain([("transfer", H1, NOT_MINED)])
    assert "was not mined" in msg and fix == "nothing was sent: run it again"
    msg, fix = explain([("releaseJobs", H1, MINED), ("withdraw", H2, NOT_MINED)])
    assert f"the releaseJobs {H1} was mined" in msg and f"the withdraw {H2} was not" in msg
    assert explain([])[1] == "nothing was sent: run it again"


def test_the_full_hash_decides_and_the_nonce_only_without_one():
    """A journal entry is looked up by hash (the nonce may have gone to the container's own transaction); a line an
    older version wrote without one falls back to the key's mined nonce."""
    full1 = "0x1234567890ab" + "0" * 40 + "cdef01234567"
    sent = [("transfer", H1, 7), ("withdraw", H2, 8)]
    asked: list[str] = []

    def lookup(h: str) -> str:
        asked.append(h)
        return NOT_MINED

    states = tx_states(sent, [(full1, 7)], lookup, lambda: 9)
    assert states == [("transfer", H1, NOT_MINED), ("withdraw", H2, MINED)] and asked == [full1]


def test_a_transaction_still_waiting_to_be_mined_is_never_sent_again():
    """Broadcast, not mined yet: it may still be mined, so no fix may say "run it again" (for any kind)."""
    for kind in ("withdraw", "settle", ""):
        msg, fix = explain([("releaseJobs", H1, MINED), ("transfer", H2, PENDING)], kind=kind)
        assert f"the transfer {H2} was sent and is waiting to be mined" in msg and f"the releaseJobs {H1} was mined" in msg
        assert "do not send it again" in fix and "run it again" not in fix, (kind, fix)


def test_an_operation_that_skips_what_is_done_says_run_it_again():
    """settle, clear_stuck and set_models read the chain before each send: a rerun sends only what is missing, so the
    fix says to run it again (an amount op must not be: a rerun sends a second one; a mined deregisterWorker is
    finished by the agent's own schedule)."""
    for kind in ("settle", "clear_stuck", "set_models"):
        msg, fix = explain([("releaseJobs", H1, MINED)], kind=kind)
        assert "was mined" in msg and fix.startswith("run it again") and "only what is missing" in fix, (kind, fix)
        msg, fix = explain([("releaseJobs", H1, MINED), ("withdraw", H2, NOT_MINED)], kind=kind)
        assert fix.startswith("run it again") and "only what is missing" in fix, (kind, fix)
    for kind in ("withdraw", "top_up", "devnet_fund", "deregister", "reinstate", ""):
        assert "do not send it again" in explain([("transfer", H1, MINED)], kind=kind)[1]
