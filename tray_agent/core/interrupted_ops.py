"""After a crash: tell the user, per interrupted operation, whether its transactions were mined.

Every send writes "sending <what> transaction <hash> (nonce n)" into the operation's stored progress before the
broadcast (write-ahead). On the next start each such line is checked against the chain: the key's mined nonce
count above n means that transaction landed. The error then says which were mined (do not send them again) or
that nothing was sent (run it again), instead of one generic "check the result".
"""

from __future__ import annotations

import logging
import re

from tray_agent.common.errors import AgentError

log = logging.getLogger(__name__)
SENT = re.compile(r"sending (?P<what>[\w ]+?) transaction (?P<hash>0x[0-9a-fA-F]+…[0-9a-fA-F]+) \(nonce (?P<nonce>\d+)\)")


def sent_lines(progress: list[dict]) -> list[tuple[str, str, int]]:
    """(what, short hash, nonce) of every transaction the operation announced before broadcasting it."""
    out = []
    for item in progress or []:
        m = SENT.search(str(item.get("message", "")))
        if m:
            out.append((m["what"], m["hash"], int(m["nonce"])))
    return out


# operations that read the chain before each send and skip what is done: a rerun sends only what is missing
RESUMABLE = frozenset({"settle", "clear_stuck", "set_models"})
RERUN_FIX = "run it again: it reads the chain first and sends only what is missing (nothing is sent twice)"


def explain(sent: list[tuple[str, str, int]], mined_nonce: int, kind: str = "") -> tuple[str, str]:
    """(message, fix) for an interrupted operation whose key has ``mined_nonce`` mined transactions."""
    if not sent:
        return ("the agent stopped while this operation was running; it had sent no transaction",
                "nothing was sent: run it again")
    landed = [f"the {w} {h}" for w, h, n in sent if n < mined_nonce]
    lost = [f"the {w} {h}" for w, h, n in sent if n >= mined_nonce]
    if landed and not lost:
        return (f"the agent stopped while this operation was running; {', '.join(landed)} was mined",
                RERUN_FIX if kind in RESUMABLE else
                "it was mined: do not send it again; check the dashboard for what is left to do")
    if landed:
        return (f"the agent stopped while this operation was running; {', '.join(landed)} was mined, "
                f"{', '.join(lost)} was not", RERUN_FIX if kind in RESUMABLE else
                "what was mined must not be sent again; run the operation again for the rest (it skips what is done)")
    return (f"the agent stopped while this operation was running; {', '.join(lost)} was not mined",
            "nothing was sent: run it again")


def reconcile(op: dict, history, chain, address: str | None) -> None:
    """Rewrite the interrupted operation's error with what the chain says about its announced transactions."""
    if chain is None or not address:
        return
    sent = sent_lines(op.get("progress") or [])
    if not sent and op.get("kind") not in ("withdraw", "top_up", "settle", "deregister", "clear_stuck", "reinstate",
                                           "set_models", "devnet_fund"):
        return
    try:
        mined = chain.nonce(address, "latest")
    except AgentError as e:
        log.info("could not check the interrupted operation %s on chain: %s", op.get("id"), e)
        return
    message, fix = explain(sent, mined, str(op.get("kind") or ""))
    history.op_finished(op["id"], "interrupted", None, {"code": "interrupted", "message": message, "fix": fix})
