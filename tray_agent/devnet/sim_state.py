"""On-disk state of the simulated worker, with the official worker's rules (spec/toolkit.md §5.5, §5.6).

- :class:`ReleaseStore` — ``RELEASE_STATE_PATH``: pretty JSON, 0600, ``schema_version`` 2 and the identity fields
  ``chain_id``, ``job_registry``, ``worker_address``. Opening it with another identity is fatal
  (``release store identity mismatch``); a zero-byte file is fatal (``release store snapshot is empty``); only a
  missing file means first run (§5.5). A sibling ``<path>.lock`` is flocked while the worker writes (Unix).
- :class:`SessionStore` — ``SESSION_KEY_FILE`` (§5.3): ``{"version":1,"salt","data"}``, AES-GCM under
  scrypt(``WORKER_KEYSTORE_PASSWORD``); zeroed and persisted empty on shutdown. A store that this password cannot
  open (another worker's, or an old password) is fatal at startup — it has crash-looped real containers.
- :class:`CursorStore` — ``SORTITION_STATE_DIR``: ``cursor-job_submitted.txt`` and ``cursor-session_requested.txt``
  (one decimal block number each, ``.tmp`` + rename). Missing cursors restart ``lookback`` blocks behind head (§5.6).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SCHEMA_VERSION = 2
CURSOR_LOOKBACK_BLOCKS = 2000  # §5.6: deleting the cursors restarts 2000 blocks behind head


class StoreError(Exception):
    """A fatal startup error of the worker's state (the container exits non-zero, toolkit.md §4)."""


@dataclass(frozen=True)
class Identity:
    chain_id: int
    job_registry: str
    worker_address: str

    def matches(self, doc: dict[str, Any]) -> bool:
        return (int(doc.get("chain_id", -1)) == self.chain_id
                and str(doc.get("job_registry", "")).lower() == self.job_registry.lower()
                and str(doc.get("worker_address", "")).lower() == self.worker_address.lower())


class ReleaseStore:
    """The worker's pending-release list, bound to one (chain, job registry, worker) — toolkit.md §5.5."""

    def __init__(self, path: Path, identity: Identity):
        self.path = Path(path)
        self.identity = identity
        self.doc: dict[str, Any] = {}
        self._mu = threading.Lock()
        self._lock_fh: IO[bytes] | None = None

    def open(self) -> ReleaseStore:
        """Load or create the file; raises StoreError with the official message on any fatal condition."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock()
        if not self.path.exists():  # §5.5: only a missing file means first run
            self.doc = {"schema_version": SCHEMA_VERSION, "chain_id": self.identity.chain_id,
                        "job_registry": self.identity.job_registry, "worker_address": self.identity.worker_address,
                        "pending": [], "last_reconciled_block": 0, "last_release_ts": 0, "next_allowed_attempt": 0}
            self._save()
            return self
        raw = self.path.read_bytes()
        if not raw.strip():  # §5.5: a zero-byte file is an error, not a first run
            raise StoreError(f"open release store: release store snapshot is empty ({self.path})")
        try:
            doc = json.loads(raw)
        except ValueError as e:
            raise StoreError(f"open release store: decode {self.path}: {e}") from None
        if not isinstance(doc, dict):
            raise StoreError(f"open release store: decode {self.path}: not a JSON object")
        if int(doc.get("schema_version", 0)) != SCHEMA_VERSION:
            raise StoreError(f"open release store: schema version mismatch (file {doc.get('schema_version')}, "
                             f"want {SCHEMA_VERSION})")
        if not self.identity.matches(doc):  # §5.5: one file per worker per network
            i = self.identity
            raise StoreError(
                "open release store: release store identity mismatch "
                f"(file chain_id={doc.get('chain_id')} job_registry={doc.get('job_registry')} "
                f"worker={doc.get('worker_address')}; running chain_id={i.chain_id} "
                f"job_registry={i.job_registry} worker={i.worker_address})")
        doc.setdefault("pending", [])
        self.doc = doc
        return self

    def _lock(self) -> None:
        if os.name != "posix":
            return
        import fcntl

        self._lock_fh = open(f"{self.path}.lock", "ab")  # noqa: SIM115 - held for the process lifetime
        fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX)

    def close(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None

    def _save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.doc, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    @property
    def pending_ids(self) -> list[int]:
        return [int(p["job_id"]) for p in self.doc.get("pending", [])]

    def add_pending(self, job_id: int, completed_at: int) -> None:
        """§10: after a successful completeJob the job is added to ``pending``."""
        with self._mu:
            if job_id not in self.pending_ids:
                self.doc["pending"].append({"job_id": job_id, "completed_at": int(completed_at), "fail_count": 0,
                                            "backoff_until": 0})
                self._save()

    def drop(self, job_ids: list[int], release_ts: int | None = None) -> None:
        with self._mu:
            gone = set(job_ids)
            self.doc["pending"] = [p for p in self.doc["pending"] if int(p["job_id"]) not in gone]
            if release_ts is not None:
                self.doc["last_release_ts"] = int(release_ts)
            self._save()


class CursorStore:
    """Sortition cursors (toolkit.md §5.6): the last block the watcher has dispatched, per event kind."""

    KINDS = ("job_submitted", "session_requested")

    def __init__(self, directory: Path, lookback: int = CURSOR_LOOKBACK_BLOCKS):
        self.dir = Path(directory)
        self.lookback = lookback
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)  # §5.6: dir 0755

    def _file(self, kind: str) -> Path:
        return self.dir / f"cursor-{kind}.txt"

    def get(self, kind: str, head: int) -> int:
        """The saved cursor; a missing one restarts ``lookback`` blocks behind head (§5.6)."""
        f = self._file(kind)
        try:
            text = f.read_text().strip()
        except FileNotFoundError:
            return max(0, head - self.lookback)
        try:
            return int(text)
        except ValueError:
            raise StoreError(f"open sortition cursor store: {f.name} does not hold a block number") from None

    def set(self, kind: str, block: int) -> None:
        f = self._file(kind)
        tmp = f.with_name(f.name + ".tmp")
        tmp.write_text(f"{int(block)}\n")
        os.replace(tmp, f)


class SessionStore:
    """Session keys of claimed sessions (toolkit.md §5.3); the sim keeps none in memory, only the file rules."""

    def __init__(self, path: Path, password: str):
        self.path = Path(path)
        self.password = password

    def open(self) -> SessionStore:
        if not self.path.exists():
            return self
        from tray_agent.core.keys import keystore as ks

        try:
            doc = json.loads(self.path.read_text())
            salt, blob = base64.b64decode(doc["salt"]), base64.b64decode(doc["data"])
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            AESGCM(ks._file_key(self.password, salt)).decrypt(blob[:12], blob[12:], None)
        except Exception as e:
            raise StoreError(f"open session key store {self.path}: cipher: message authentication failed "
                             f"({type(e).__name__})") from None
        return self

    def persist_empty(self) -> None:
        """§5.3: on shutdown the store is zeroed and persisted empty (keys are re-derived from chain)."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from tray_agent.core.keys import keystore as ks

        salt, nonce = os.urandom(16), os.urandom(12)
        ct = AESGCM(ks._file_key(self.password, salt)).encrypt(nonce, b"{}", None)
        doc = {"version": 1, "salt": base64.b64encode(salt).decode(), "data": base64.b64encode(nonce + ct).decode()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, self.path)
