"""After a crash: tell the user, per interrupted operation, whether its transactions were mined.

Every send writes "sending <what> transaction <hash> (nonce n)" into the operation's stored progress before the
broadcast (write-ahead), and the runner's journal keeps its full hash (``History.op_txs``). On the next start each
transaction is looked up by that hash: a receipt means it landed. The key's nonce is not enough: the worker
container signs with the same key and may take the nonce of a transaction that was never broadcast. Only a line
with no journal entry (recorded by an older version) falls back to the nonce. The error then says which were
mined (do not send them again) or that nothing was sent (run it again), instead of one generic "check the result".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

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


def mined_flags(sent: list[tuple[str, str, int]], journal: list[tuple[str, int]], has_receipt: Callable[[str], bool],
                mined_nonce: Callable[[], int]) -> list[tuple[str, str, bool]]:
    """(what, short hash, mined) per announced transaction: by its full hash from the journal where there is one."""
    from .chain.ops.context import short_hash  # the chain layer loads only when there is something to check

    full = {short_hash(h): h for h, _ in journal}
    out = []
    for what, short, nonce in sent:
        tx_hash = full.get(short)
        out.append((what, short, has_receipt(tx_hash) if tx_hash else nonce < mined_nonce()))
    return out


def check_sent(op: dict, history, chain, address: str) -> list[tuple[str, str, bool]]:
    """(what, short hash, mined) per transaction the stored operation announced, asked of the chain now."""
    return mined_flags(sent_lines(op.get("progress") or []), history.op_txs(op["id"]),
                       lambda h: chain.receipt(h) is not None, lambda: chain.nonce(address, "latest"))


def explain(sent: list[tuple[str, str, bool]], kind: str = "") -> tuple[str, str]:
    """(message, fix) for an interrupted operation, given (what, short hash, mined) per announced transaction."""
    if not sent:
        return ("the agent stopped while this operation was running; it had sent no transaction",
                "nothing was sent: run it again")
    landed = [f"the {w} {h}" for w, h, mined in sent if mined]
    lost = [f"the {w} {h}" for w, h, mined in sent if not mined]
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
        flags = check_sent(op, history, chain, address)
    except AgentError as e:
        log.info("could not check the interrupted operation %s on chain: %s", op.get("id"), e)
        return
    message, fix = explain(flags, str(op.get("kind") or ""))
    history.op_finished(op["id"], "interrupted", None, {"code": "interrupted", "message": message, "fix": fix})
