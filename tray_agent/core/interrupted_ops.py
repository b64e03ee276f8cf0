"""After a crash: tell the user, per interrupted operation, whether its transactions were mined.

Every send writes "sending <what> transaction <hash> (nonce n)" into the operation's stored progress before the
broadcast (write-ahead), and the runner's journal keeps its full hash (``History.op_txs``). On the next start each
transaction is looked up by that hash: a receipt means it landed, a node that still holds it means it may land. The key's nonce is not enough: the worker
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


MINED, PENDING, NOT_MINED = "mined", "pending", "not mined"


def tx_states(sent: list[tuple[str, str, int]], journal: list[tuple[str, int]], lookup: Callable[[str], str],
              mined_nonce: Callable[[], int]) -> list[tuple[str, str, str]]:
    """(what, short hash, state) per announced transaction: by its full hash from the journal where there is one
    (``lookup`` → MINED / PENDING / NOT_MINED); a line without one (an older version) by the key's mined nonce."""
    from .chain.ops.context import short_hash  # the chain layer loads only when there is something to check

    full = {short_hash(h): h for h, _ in journal}
    out = []
    for what, short, nonce in sent:
        tx_hash = full.get(short)
        out.append((what, short, lookup(tx_hash) if tx_hash else MINED if nonce < mined_nonce() else NOT_MINED))
    return out


def chain_lookup(chain) -> Callable[[str], str]:
    """A transaction's state on ``chain``: a receipt → mined; known to the node without one → pending."""

    def lookup(tx_hash: str) -> str:
        if chain.receipt(tx_hash) is not None:
            return MINED
        return PENDING if chain.transaction(tx_hash) is not None else NOT_MINED

    return lookup


def check_sent(op: dict, history, chain, address: str) -> list[tuple[str, str, str]]:
    """(what, short hash, state) per transaction the stored operation announced, asked of the chain now."""
    return tx_states(sent_lines(op.get("progress") or []), history.op_txs(op["id"]), chain_lookup(chain),
                     lambda: chain.nonce(address, "latest"))


def explain(sent: list[tuple[str, str, str]], kind: str = "") -> tuple[str, str]:
    """(message, fix) for an interrupted operation, given (what, short hash, state) per announced transaction."""
    head = "the agent stopped while this operation was running; "
    if not sent:
        return head + "it had sent no transaction", "nothing was sent: run it again"
    landed = [f"the {w} {h}" for w, h, st in sent if st == MINED]
    waiting = [f"the {w} {h}" for w, h, st in sent if st == PENDING]
    lost = [f"the {w} {h}" for w, h, st in sent if st == NOT_MINED]
    if waiting:  # broadcast and not mined yet: it may still be mined, so nothing may be sent in its place
        return (head + f"{', '.join(waiting)} was sent and is waiting to be mined"
                + (f"; {', '.join(landed)} was mined" if landed else ""),
                "wait: it may still be mined, so do not send it again; the dashboard shows the result once it is")
    if landed and not lost:
        return (head + f"{', '.join(landed)} was mined",
                RERUN_FIX if kind in RESUMABLE else
                "it was mined: do not send it again; check the dashboard for what is left to do")
    if landed:
        return (head + f"{', '.join(landed)} was mined, {', '.join(lost)} was not", RERUN_FIX if kind in RESUMABLE else
                "what was mined must not be sent again; run the operation again for the rest (it skips what is done)")
    return head + f"{', '.join(lost)} was not mined", "nothing was sent: run it again"


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
