"""Local history in SQLite: operations, jobs and earnings seen, withdrawals, uptime samples."""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS operations (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, network TEXT NOT NULL, state TEXT NOT NULL,
  started REAL NOT NULL, finished REAL, params TEXT, result TEXT, error TEXT, progress TEXT
);
CREATE TABLE IF NOT EXISTS earnings (
  t REAL NOT NULL, network TEXT NOT NULL, address TEXT NOT NULL,
  stake_wei TEXT, escrowed_wei TEXT, releasable_wei TEXT, worker_balance_wei TEXT, wallet_wei TEXT, withdrawn_wei TEXT
);
CREATE TABLE IF NOT EXISTS withdrawals (
  t REAL NOT NULL, network TEXT NOT NULL, tx TEXT, to_addr TEXT, amount_wei TEXT, fee_wei TEXT
);
CREATE TABLE IF NOT EXISTS uptime (t REAL NOT NULL, network TEXT NOT NULL, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS op_txs (op_id TEXT NOT NULL, hash TEXT NOT NULL, nonce INTEGER NOT NULL, t REAL NOT NULL);
CREATE INDEX IF NOT EXISTS ops_started ON operations(started);
CREATE INDEX IF NOT EXISTS earn_t ON earnings(network, t);
"""


class History:
    """One SQLite file per profile. A damaged file is moved aside and rebuilt (never a crash loop)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.rebuilt_from: Path | None = None
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = self._connect()
            ok = db.execute("PRAGMA quick_check").fetchone()[0]
            if ok != "ok":
                raise sqlite3.DatabaseError(ok)
            return db
        except sqlite3.DatabaseError as e:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.error("history database %s is damaged (%s); moved to %s and starting a new one", self.path, e, aside)
            self.path.rename(aside)
            self.rebuilt_from = aside
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        self.path.chmod(0o600)
        return db

    def _x(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            cur = self._db.execute(sql, args)
            return cur.fetchall()

    # operations -------------------------------------------------------------------------------
    def op_started(self, op_id: str, kind: str, network: str, params: dict) -> None:
        self._x("INSERT OR REPLACE INTO operations(id, kind, network, state, started, params) VALUES(?,?,?,?,?,?)",
                (op_id, kind, network, "running", time.time(), json.dumps(params)))

    def op_progress(self, op_id: str, progress: list) -> None:
        self._x("UPDATE operations SET progress=? WHERE id=?", (json.dumps(progress[-50:]), op_id))

    def op_tx(self, op_id: str, tx_hash: str, nonce: int) -> None:
        """Write-ahead: the full hash of a transaction the operation is about to broadcast (public data)."""
        self._x("INSERT INTO op_txs(op_id, hash, nonce, t) VALUES(?,?,?,?)", (op_id, tx_hash, nonce, time.time()))

    def op_txs(self, op_id: str) -> list[tuple[str, int]]:
        """(full hash, nonce) of every transaction the operation announced, in order."""
        return [(r[0], int(r[1])) for r in self._x("SELECT hash, nonce FROM op_txs WHERE op_id=? ORDER BY rowid", (op_id,))]

    def op_finished(self, op_id: str, state: str, result: Any = None, error: dict | None = None) -> None:
        self._x("UPDATE operations SET state=?, finished=?, result=?, error=? WHERE id=?",
                (state, time.time(), json.dumps(result, default=str), json.dumps(error) if error else None, op_id))

    def interrupted_ops(self) -> list[dict]:
        """Operations left 'running' by a crash or kill -9: reported as interrupted on the next start."""
        return self.operations(state="running")

    def mark_interrupted(self) -> list[dict]:
        ops = self.interrupted_ops()
        for op in ops:
            self.op_finished(op["id"], "interrupted", error={"code": "interrupted",
                             "message": "the agent stopped while this operation was running",
                             "fix": "check the result on the dashboard and run it again if needed"})
        return ops

    def operations(self, kind: str | None = None, state: str | None = None, limit: int = 100,
                   op_id: str | None = None) -> list[dict]:
        sql = "SELECT id, kind, network, state, started, finished, params, result, error, progress FROM operations"
        where, args = [], []
        if op_id:
            where.append("id=?")
            args.append(op_id)
        if kind:
            where.append("kind=?")
            args.append(kind)
        if state:
            where.append("state=?")
            args.append(state)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started DESC LIMIT ?"
        args.append(int(limit))
        out = []
        for r in self._x(sql, tuple(args)):
            out.append({"id": r[0], "kind": r[1], "network": r[2], "state": r[3], "started": r[4], "finished": r[5],
                        "params": _j(r[6]), "result": _j(r[7]), "error": _j(r[8]), "progress": _j(r[9]) or []})
        return out

    def op(self, op_id: str) -> dict | None:
        rows = self.operations(op_id=op_id, limit=1)
        return rows[0] if rows else None

    # samples ---------------------------------------------------------------------------------
    def earnings_sample(self, network: str, address: str, **wei: int) -> None:
        cols = ("stake_wei", "escrowed_wei", "releasable_wei", "worker_balance_wei", "wallet_wei", "withdrawn_wei")
        self._x(f"INSERT INTO earnings(t, network, address, {', '.join(cols)}) VALUES(?,?,?,{','.join('?' * len(cols))})",
                (time.time(), network, address, *(str(int(wei.get(c, 0))) for c in cols)))

    def earnings_series(self, network: str, since: float = 0, limit: int = 2000) -> list[dict]:
        rows = self._x("SELECT t, stake_wei, escrowed_wei, releasable_wei, worker_balance_wei, wallet_wei, withdrawn_wei "
                       "FROM earnings WHERE network=? AND t>=? ORDER BY t DESC LIMIT ?", (network, since, limit))
        keys = ("t", "stake_wei", "escrowed_wei", "releasable_wei", "worker_balance_wei", "wallet_wei", "withdrawn_wei")
        return [dict(zip(keys, r, strict=True)) for r in reversed(rows)]

    def withdrawal(self, network: str, tx: str, to: str, amount_wei: int, fee_wei: int) -> None:
        self._x("INSERT INTO withdrawals VALUES(?,?,?,?,?,?)", (time.time(), network, tx, to, str(amount_wei), str(fee_wei)))

    def withdrawn_total(self, network: str) -> int:
        return sum(int(r[0]) for r in self._x("SELECT amount_wei FROM withdrawals WHERE network=?", (network,)))

    def uptime_sample(self, network: str, state: str) -> None:
        self._x("INSERT INTO uptime VALUES(?,?,?)", (time.time(), network, state))

    def uptime_ratio(self, network: str, since: float) -> float | None:
        rows = self._x("SELECT state FROM uptime WHERE network=? AND t>=?", (network, since))
        if not rows:
            return None
        return sum(1 for r in rows if r[0] == "online") / len(rows)

    def csv_export(self, network: str, jobs: list[dict] | None = None) -> str:
        """Withdrawals, balance samples, operations with the amount they moved, and (when given) the jobs; a
        slashed job is a ``slash`` row with the slash as its amount."""
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["type", "time", "network", "detail", "amount_wei", "fee_wei", "state"])
        for r in self._x("SELECT t, network, tx, to_addr, amount_wei, fee_wei FROM withdrawals WHERE network=?", (network,)):
            w.writerow(["withdrawal", _iso(r[0]), r[1], f"{r[3]} tx {r[2]}", r[4], r[5], "done"])
        for s in self.earnings_series(network):
            w.writerow(["balance", _iso(s["t"]), network, f"escrowed {s['escrowed_wei']} releasable {s['releasable_wei']}",
                        s["worker_balance_wei"], "", ""])
        for o in reversed(self.operations(limit=10000)):
            if o["network"] == network:
                auto = " (automatic)" if (o.get("params") or {}).get("origin") == "automatic" else ""
                w.writerow(["operation", _iso(o["started"]), network, o["kind"] + auto, _op_amount(o), "", o["state"]])
        for j in jobs or []:
            if int(j.get("slash_wei") or 0):  # timed out and slashed (claimTimeout): the slash is the amount
                at = j.get("deadline") or j.get("completed_at")
                w.writerow(["slash", _iso(at) if at else "", network, f"job {j['job_id']} timed out: slashed from the stake",
                            str(int(j["slash_wei"])), "", j.get("state", "")])
                continue
            w.writerow(["job", _iso(j["completed_at"]) if j.get("completed_at") else "", network,
                        f"job {j['job_id']} {j.get('state', '')}", j.get("share_wei", ""), "", j.get("state", "")])
        return buf.getvalue()

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _op_amount(op: dict) -> str:
    """Wei an operation moved, from its result: settled, slashed, stake returned, withdrawn ("" when none)."""
    r = op.get("result") if isinstance(op.get("result"), dict) else {}
    kind = op.get("kind")
    if kind == "settle":
        return str(int(r.get("released_wei") or 0))
    if kind == "deregister":
        return str(r.get("returned_wei") or int(r.get("stake_returned_wei") or 0) + int(r.get("withdrawn_wei") or 0))
    if kind == "clear_stuck":
        return str(sum(int(j.get("slash_wei") or 0) for j in r.get("jobs", []) if j.get("action") == "timed_out"))
    if kind in ("withdraw", "devnet_fund"):
        return str(r.get("amount_wei") or "")
    return ""


def _j(text: str | None) -> Any:
    return json.loads(text) if text else None


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
