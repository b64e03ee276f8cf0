"""Automatic settle and withdraw: evaluated on each refresh of the agent, run through the serial runner.

Rules it keeps: only when the worker runs no job (the drain rule: an unreadable job count is busy), never beside
another operation (the runner refuses a second one; the policy just waits), never while a deregistration is
scheduled or running, and not when the fee would be above the chosen share of the amount (skipped, with the
reason recorded). Each automatic operation is a normal ``settle`` / ``withdraw`` operation in the history with
``{"origin": "automatic"}``, is notified (tray and webhook), and a failure is retried with a growing wait.

Crash safety: the policy file records the running automatic operation before it starts (write-ahead). When the
agent finds that record on its next run, the operation was interrupted: a settle is simply run again (it skips
what is done, per the chain); a withdrawal's announced transactions are looked up on chain by their journaled hash
(``interrupted_ops.check_sent``): none → sent again, all mined → counted, anything else → the policy holds and says
why.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tray_agent.common.amounts import format_lcai
from tray_agent.common.errors import AgentError, BusyError, ValidationError

from ..autosettle_policy import DEFAULTS, POLICY_KEYS, Decision, Inputs, amount_wei, backoff_s, decide, fee_ok
from ..interrupted_ops import MINED, PENDING, check_sent, sent_lines
from ..store import JsonStore

if TYPE_CHECKING:
    from ..history import History
    from ..runner import OperationRunner
    from ..state_owner import StateOwner
    from .session import NetworkSession

log = logging.getLogger(__name__)
ORIGIN = {"origin": "automatic"}
WITHDRAW_GAS = 80_000     # JobRegistry.withdraw() upper bound when there is no balance yet to estimate it with
TRANSFER_GAS = 21_000
BATCH = 50                # the settle op's releaseJobs batch size
SKIP_RECHECK_S = 300.0    # a fee skip for the same amount is estimated again after this long (not every refresh)
Notify = Callable[[str, str, str, str], None]  # (kind, title, message, level)


def estimate_settle_fee(chain: Any, address: str, ready: list[int], balance_wei: int, transfer: bool) -> int:
    """Fee upper bound (wei) of the settle the op would send: releaseJobs batches, withdraw(), and the forwarding
    transfer when automatic withdraw is on. Gas from eth_estimateGas, price from the chain client's fee fields."""
    from ..chain.client import to_int
    from ..chain.tx import TxSender, fee_fields

    jr = chain.job_registry

    def est(data: str) -> int:
        return to_int(chain.rpc.call("eth_estimateGas", [{"from": address, "to": jr.address, "data": data}]))

    gas = 0
    if ready:  # one estimate of a full batch, times the number of batches (bounded RPC, an upper bound)
        gas += est(jr.encode("releaseJobs", ready[:BATCH])) * -(-len(ready) // BATCH)
    gas += est(jr.encode("withdraw")) if balance_wei > 0 and not ready else WITHDRAW_GAS
    if transfer:
        gas += TRANSFER_GAS
    return gas * TxSender.max_fee_per_gas(fee_fields(chain))


def ready_jobs(jobs: list[dict], head_ts: int) -> list[int]:
    """Ids releasable now, from the earnings scan (Completed past the dispute window, or Resolved)."""
    return [int(j["job_id"]) for j in jobs
            if (j.get("state") == "Completed" and j.get("releasable_at") and int(j["releasable_at"]) <= head_ts)
            or j.get("state") == "Resolved"]


class AutoSettle:
    """One per agent; the policy file belongs to the active network session."""

    def __init__(self, runner: OperationRunner, owner: StateOwner, history: History,
                 session: Callable[[], NetworkSession], notify: Notify, clock: Callable[[], float] = time.time):
        self.runner = runner
        self.owner = owner
        self.history = history
        self.session = session
        self.notify = notify
        self.clock = clock
        self._lock = threading.RLock()
        self._stores: dict[str, JsonStore] = {}
        self._ours: set[str] = set()  # op ids this process started (a "running" record of another = interrupted)
        self._last: dict | None = None
        self._skip: tuple[int, float, str] | None = None  # (amount, until, message) of the last fee skip

    # --- the policy file ----------------------------------------------------------------------------------
    def store(self) -> JsonStore:
        s = self.session()
        name = s.network.name
        if name not in self._stores:
            self._stores[name] = JsonStore(s.paths.network_dir(name) / "autosettle.json", DEFAULTS)
        return self._stores[name]

    def view(self) -> dict:
        """The policy, its state and what it would do now (GET /api/autosettle, the CLI, Settings)."""
        p = self.store().all()
        d = self._decision(p)
        out = {k: p[k] for k in (*POLICY_KEYS, "withdraw_to", "withdraw_to_confirmed_at", "last_settle_at",
                                 "failures", "next_try_at", "last_error", "last_skip", "forward_wei", "held",
                                 "last_action")}
        out.update(network=self.session().network.name, state=d.state, message=d.message,
                   threshold_lcai=format_lcai(int(p["threshold_wei"]), None, grouping=False))
        return out

    def update(self, changes: Any) -> dict:
        from ..autosettle_policy import validate_changes

        with self._lock:
            st = self.store()
            valid = validate_changes(changes, st.all())
            self._skip = None  # a changed policy is evaluated afresh
            if valid.get("paused") is False or valid.get("enabled") is False:
                valid.update(held="", next_try_at=0.0, failures=0)  # resuming is the user's "try again now"
            st.update(**valid)
        self.publish()
        return self.view()

    def confirm_address(self, address: Any, confirm: Any) -> dict:
        """Without ``confirm`` only checks the address and returns it in full (checksummed) for the confirmation;
        with ``"confirm": true`` stores it. The address changes only this way."""
        from ..chain.ops import validate_destination

        if not isinstance(address, str):
            raise ValidationError("address is required", fix="paste the wallet address your earnings go to",
                                  field="address")
        s = self.session()
        own = s.custody.address() if s.custody is not None else None
        addr = validate_destination(address, own=own, field="address")
        current = self.store().get("withdraw_to") or ""
        if confirm is not True:
            return {"address": addr, "current": current, "needs_confirmation": True,
                    "text": f"Automatic withdrawals will send settled earnings to {addr} on "
                            f"{s.network.name}. Check every character against your wallet."}
        with self._lock:
            self.store().update(withdraw_to=addr, withdraw_to_confirmed_at=self.clock())
        log.info("automatic withdraw address confirmed: %s", addr)
        self.publish()
        return self.view()

    def set_paused(self, paused: Any) -> dict:
        if not isinstance(paused, bool):
            raise ValidationError("paused must be true or false", fix="send a JSON boolean", field="paused")
        return self.update({"paused": paused})

    # --- evaluation -----------------------------------------------------------------------------------------
    def _inputs(self) -> Inputs:
        s, st = self.session(), self.owner.status()
        cur = self.runner.current
        busy = cur.kind if cur is not None and cur.state in ("queued", "running") else st.operation
        return Inputs(registered=st.registered, releasable_wei=st.releasable_wei,
                      worker_balance_wei=st.worker_balance_wei, busy_op=busy,
                      exit_pending=bool(s.exit is not None and s.exit.pending), now=self.clock())

    def _decision(self, p: dict) -> Decision:
        if p.get("running") and p["running"].get("op_id") in self._ours:
            return Decision("", "running", f"Running the automatic {p['running']['kind']}")
        return decide(p, self._inputs())

    def tick(self) -> Decision:
        """One evaluation (the agent's refresh loop): maybe start an automatic operation; publish the state."""
        s = self.session()
        if s.money is None or s.sync is None:
            return Decision("", "waiting", "The agent is starting")
        with self._lock:
            st = self.store()
            self._recover(st, s)
            d = self._decision(st.all())
            if d.action == "settle":
                d = self._try_settle(st, s, d)
            elif d.action == "withdraw":
                d = self._start(st, s, "withdraw", d)
        self.publish(d)
        return d

    def _idle(self, s: NetworkSession) -> int | None:
        """Running jobs by the drain rule: 0 when no container runs, None (busy) when the count is unreadable."""
        rt = s.worker.runtime
        return rt.jobs_for_drain() if rt is not None else 0

    def _try_settle(self, st: JsonStore, s: NetworkSession, d: Decision) -> Decision:
        jobs = self._idle(s)
        if jobs != 0:
            return Decision("", "waiting", "Waiting for the worker to be idle "
                                           f"({'job count unreadable' if jobs is None else f'{jobs} running'})")
        p = st.all()
        if not p.get("resume_settle"):
            inp = self._inputs()
            amount = amount_wei(inp)
            if self._skip is not None and self._skip[0] == amount and self.clock() < self._skip[1]:
                return Decision("", "skipped", self._skip[2])
            try:
                addr = s.custody.require_address()
                _n, head_ts = s.chain.head()
                e = s.sync.earnings
                ready = ready_jobs(e.jobs if e is not None else [], head_ts)
                fee = estimate_settle_fee(s.chain, addr, ready, inp.worker_balance_wei, bool(p.get("withdraw")))
            except AgentError as ex:
                return self._failed(st, f"fee estimate failed: {ex.message}")
            if not fee_ok(fee, amount, int(p["max_fee_bps"])):
                why = (f"skipped: the fee (about {format_lcai(fee, 6)} LCAI) is above {int(p['max_fee_bps']) / 100:g} % "
                       f"of {format_lcai(amount, 6)} LCAI")
                if p.get("last_skip") != str(amount):  # recorded once per amount, not on every refresh
                    self._record_skip(s, why, amount, fee)
                    st.update(last_skip=str(amount))
                self._skip = (amount, self.clock() + SKIP_RECHECK_S, why[0].upper() + why[1:])
                return Decision("", "skipped", self._skip[2])
        return self._start(st, s, "settle", d)

    def _record_skip(self, s: NetworkSession, why: str, amount: int, fee: int) -> None:
        import uuid

        op_id = uuid.uuid4().hex[:12]
        self.history.op_started(op_id, "settle", s.network.name, {**ORIGIN, "amount_wei": str(amount),
                                                                   "fee_wei": str(fee)})
        self.history.op_finished(op_id, "skipped", None, {"code": "fee_too_high", "message": why,
                                                          "fix": "wait for more earnings, or raise the fee share"})
        log.info("automatic settle %s", why)

    def _start(self, st: JsonStore, s: NetworkSession, kind: str, d: Decision) -> Decision:
        p = st.all()
        fn = self._settle_fn(st, s) if kind == "settle" else self._withdraw_fn(st, s, p)
        try:
            op = self.runner.submit(kind, fn, ORIGIN, safe_params=dict(ORIGIN))
        except BusyError:
            return Decision("", "waiting", "Waiting for the running operation")
        self._ours.add(op.op_id)
        st.update(running={"kind": kind, "op_id": op.op_id, "at": self.clock()})
        log.info("automatic %s started (%s)", kind, d.message)
        threading.Thread(target=self._finished, args=(st, op), name=f"auto-{kind}", daemon=True).start()
        return Decision("", "running", f"Running the automatic {kind}: {d.message}")

    def _settle_fn(self, st: JsonStore, s: NetworkSession):
        def fn(progress):
            progress("automatic settle (policy)", None)
            res = s.money.settle(progress)
            s.sync.refresh_earnings()  # the Status's releasable amount is current before the next evaluation
            p = st.all()
            forward = int(p["forward_wei"]) + (res.withdrawn_wei if p.get("withdraw") and p.get("withdraw_to") else 0)
            st.update(resume_settle=False, last_settle_at=self.clock(), forward_wei=str(forward), last_skip="")
            return {**res.to_dict(), **ORIGIN}
        return fn

    def _withdraw_fn(self, st: JsonStore, s: NetworkSession, p: dict):
        to, forward = p["withdraw_to"], int(p["forward_wei"])

        def fn(progress):
            from ..chain.ops.withdraw import transfer_fee

            progress(f"automatic withdraw (policy) to {to}", None)
            snap = s.sync.refresh()
            fee = transfer_fee(s.chain)
            reserve = s.network.low_gas_wei if snap is not None and snap.registered else 0
            room = (snap.balance_wei if snap is not None else 0) - fee - reserve
            value = min(forward, room)
            if value <= 0:  # the wallet needs it as its gas reserve: nothing is forwarded, nothing is owed
                st.update(forward_wei="0")
                return {**ORIGIN, "amount_wei": "0", "kept_wei": str(forward),
                        "message": "kept as the gas reserve: the wallet would fall below it"}
            res = s.money.withdraw(to, format_lcai(value, None, grouping=False), False, progress)
            st.update(forward_wei="0")
            out = {**res.to_dict(), **ORIGIN}
            if value < forward:
                out["kept_wei"] = str(forward - value)
            return out
        return fn

    def _finished(self, st: JsonStore, op) -> None:
        op.done.wait()
        with self._lock:
            kind = op.kind
            if op.state == "done":
                r = op.result or {}
                if kind == "settle":
                    text = (f"Released {format_lcai(int(r.get('released_wei') or 0), 6)} LCAI and withdrew "
                            f"{format_lcai(int(r.get('withdrawn_wei') or 0), 6)} LCAI to the worker wallet")
                else:
                    text = (f"Sent {format_lcai(int(r.get('amount_wei') or 0), 6)} LCAI to {r.get('to') or ''}"
                            if int(r.get("amount_wei") or 0) else "Nothing forwarded: " + r.get("message", ""))
                st.update(running=None, failures=0, next_try_at=0.0, last_error="",
                          last_action={"kind": kind, "at": self.clock(), "ok": True, "text": text, "op_id": op.op_id})
                self.notify(f"auto_{kind}", f"Automatic {kind}", text, "info")
            else:
                err = op.error or {}
                why = err.get("message") or op.state
                if kind == "settle":
                    st.update(resume_settle=True)  # releases are idempotent by chain state: finish it next time
                elif sent_lines(op.progress):  # it may be on chain: never sent twice without the user
                    st.update(held=f"The automatic withdrawal failed after sending a transaction ({why}). Check the "
                                   "wallet, then resume automatic settle")
                self._failed(st, why, kind=kind, op_id=op.op_id)
        self.publish()

    def _failed(self, st: JsonStore, why: str, kind: str = "settle", op_id: str = "") -> Decision:
        n = int(st.get("failures") or 0) + 1
        wait = backoff_s(n)
        st.update(running=None, failures=n, next_try_at=self.clock() + wait, last_error=why,
                  last_action={"kind": kind, "at": self.clock(), "ok": False, "text": why, "op_id": op_id})
        msg = f"{why}. Next try in {int(wait // 60)} min."
        log.warning("automatic %s failed (%d in a row): %s", kind, n, why)
        self.notify(f"auto_{kind}_failed", f"Automatic {kind} failed", msg, "warning")
        return Decision("", "retrying", msg)

    # --- after a crash ----------------------------------------------------------------------------------------
    def _recover(self, st: JsonStore, s: NetworkSession) -> None:
        """A "running" record this process did not start: the agent died in that automatic operation."""
        run = st.get("running")
        if not run or run.get("op_id") in self._ours:
            return
        kind = run.get("kind")
        log.warning("the automatic %s %s was interrupted by the last shutdown", kind, run.get("op_id"))
        if kind == "settle":
            st.update(running=None, resume_settle=True)
            return
        rec = self.history.op(run.get("op_id", "")) or {"id": run.get("op_id", "")}
        try:
            sent = check_sent(rec, self.history, s.chain, s.custody.require_address())
        except AgentError as e:
            log.info("interrupted automatic withdraw not checkable yet: %s", e)
            return
        if not sent:
            st.update(running=None)  # nothing was signed: forwarding again is safe
            return
        if all(state == MINED for _w, _h, state in sent):
            st.update(running=None, forward_wei="0")  # it was mined: never send it again
        else:
            where = ("is waiting to be mined" if any(state == PENDING for _w, _h, state in sent) else "is not on chain")
            st.update(running=None, held=f"An automatic withdrawal ({sent[-1][1]}) was interrupted and {where}. "
                                         "Check the wallet, then resume automatic settle")

    # --- status ----------------------------------------------------------------------------------------------
    def publish(self, d: Decision | None = None) -> None:
        """The compact state the Status carries (tray menu item, dashboard line); reported only on a change."""
        p = self.store().all()
        d = d or self._decision(p)
        view = {"enabled": bool(p["enabled"]), "paused": bool(p["paused"]), "state": d.state, "message": d.message,
                "withdraw_to": p["withdraw_to"] if p.get("withdraw") else "", "failures": int(p["failures"]),
                "next_try_at": float(p["next_try_at"] or 0), "last_error": p["last_error"],
                "last_action": p["last_action"]}
        if view != self._last:
            self._last = view
            self.owner.report(autosettle=view)
