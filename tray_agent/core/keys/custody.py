"""The active worker key of one (profile, network): generate, import, unlock, archive, restore.

Layout (official docs layout, one directory per network; mounted into the container):
    <data>/networks/<net>/keys/keystore.json      geth V3 keystore (0600)
    <data>/networks/<net>/keys/encryption.key     ECDH P-256 key file (0600)
    <data>/networks/<net>/keys/key-meta.json      address, network, created
    <data>/networks/<net>/archive/<address>-<ts>/ same files + archived, reason
The keystore password lives in the keychain as "keystore-password"; archived ones as "archive:<dir name>".
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tray_agent.common.atomic import atomic_write, ensure_private_dir
from tray_agent.common.errors import (
    KeyCustodyError,
    KeyMismatchError,
    MissingEncryptionKeyError,
    NotFoundError,
    ValidationError,
)
from tray_agent.common.paths import Paths

from .. import failpoints
from ..networks import Network
from . import keystore as ks
from .secrets import SecretStore, check_password, generate_password

log = logging.getLogger(__name__)

ACTIVE_PW = "keystore-password"
KEYSTORE = "keystore.json"
ECDH = "encryption.key"
META = "key-meta.json"


@dataclass(frozen=True)
class ArchivedKey:
    id: str
    address: str
    network: str
    created: float
    archived: float
    reason: str
    still_staked: bool | None = None  # None = not checked (chain unreachable)

    def to_dict(self) -> dict:
        return asdict(self)


class KeyCustody:
    """Owns the worker key files and their keychain password for one network of one profile."""

    def __init__(self, paths: Paths, network: Network, secrets: SecretStore,
                 staked_checker: Callable[[str], bool] | None = None):
        self.paths = paths
        self.network = network
        self.secrets = secrets
        self.staked_checker = staked_checker  # set by the chain layer: address -> still staked?

    # --- locations -------------------------------------------------------------------------------
    @property
    def key_dir(self) -> Path:
        return self.paths.key_dir(self.network.name)

    @property
    def keystore_path(self) -> Path:
        return self.key_dir / KEYSTORE

    @property
    def ecdh_path(self) -> Path:
        return self.key_dir / ECDH

    def has_key(self) -> bool:
        return self.keystore_path.exists()

    def address(self) -> str | None:
        """Checksummed address of the active key, or None when there is none."""
        if not self.has_key():
            return None
        return ks.keystore_address(ks.parse_keystore(self.keystore_path.read_bytes()))

    def require_address(self) -> str:
        """The active key's address; NotFoundError with the fix when there is none."""
        addr = self.address()
        if not addr:
            raise NotFoundError(f"no worker key on {self.network.name}", fix="finish onboarding first")
        return addr

    def meta(self) -> dict:
        p = self.key_dir / META
        return json.loads(p.read_text()) if p.exists() else {}

    # --- create ----------------------------------------------------------------------------------
    def generate(self, password: str | None = None) -> str:
        """Create the worker key locally. Refuses when one exists (use replace())."""
        from eth_account import Account

        self._refuse_if_active()
        acct = Account.create()
        return self._install(bytes(acct.key), password)

    def import_private_key(self, private_key_hex: str, password: str | None = None) -> str:
        self._refuse_if_active()
        raw = _parse_private_key(private_key_hex)
        return self._install(raw, password)

    def import_keystore(self, keystore_text: str | bytes, password: str) -> str:
        """Import a V3 keystore: decrypt with ``password`` (proves it), then store under our layout."""
        self._refuse_if_active()
        data = ks.parse_keystore(keystore_text)
        raw = ks.decrypt_keystore(data, password)
        return self._install(raw, password, keystore_data=data)

    def import_files(self, keystore_data: dict, ecdh_data: dict, password: str) -> str:
        """Install an existing worker's keystore **and its own encryption key** (toolkit_io.import_worker)."""
        self._refuse_if_active()
        raw = ks.decrypt_keystore(keystore_data, password)
        return self._install(raw, password, keystore_data=keystore_data, ecdh_data=ecdh_data)

    def _refuse_if_active(self) -> None:
        if self.has_key():
            raise KeyCustodyError(
                f"a worker key already exists for {self.network.name} ({self.address()})",
                fix="use 'replace' to archive it first, or 'keys recover' to switch keys",
                code="key_exists",
            )

    def _install(self, raw: bytes, password: str | None, keystore_data: dict | None = None,
                 ecdh_data: dict | None = None) -> str:
        password = password if password is not None else generate_password()
        check_password(password)
        if keystore_data is None or _scrypt_n(keystore_data) < self.network.scrypt_n:
            keystore_data = ks.encrypt_keystore(raw, password, self.network.scrypt_n)
        address = ks.keystore_address(keystore_data)
        if ecdh_data is None:  # an imported worker keeps its registered encryption key
            ecdh_data, _pub = ks.create_ecdh_file(password)
        # Password first: if the keychain refuses, nothing is written.
        self.secrets.set(ACTIVE_PW, password)
        failpoints.hit("custody.install.after_keychain")
        stage = self.key_dir.with_name(f".keys-staging-{os.getpid()}-{time.time_ns()}")
        try:
            ensure_private_dir(stage)
            atomic_write(stage / ECDH, json.dumps(ecdh_data))
            atomic_write(stage / META, json.dumps({"address": address, "network": self.network.name, "created": time.time()}))
            atomic_write(stage / KEYSTORE, json.dumps(keystore_data))
            ensure_private_dir(self.key_dir.parent)
            os.rename(stage, self.key_dir)  # atomic: the active dir appears complete or not at all
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        log.info("worker key %s installed for %s", address, self.network.name)
        return address

    # --- use ------------------------------------------------------------------------------------
    def password(self) -> str:
        pw = self.secrets.get(ACTIVE_PW)
        if pw is None:
            raise KeyMismatchError(
                "the keychain has no password for the worker key",
                fix="import the keystore again with its password ('keys import'), or recover an archived key",
            )
        return pw

    def unlock(self) -> bytes:
        """Decrypt the active key (about 1 s of CPU on real networks: never on a UI thread)."""
        if not self.has_key():
            raise NotFoundError(f"no worker key for {self.network.name}", fix="run setup to create one")
        data = ks.parse_keystore(self.keystore_path.read_bytes())
        pw = self.password()
        try:
            raw = ks.decrypt_keystore(data, pw)
            log.info("worker keystore decrypted (%s)", self.network.name)  # counted by tests: once per send round
            return raw
        except KeyCustodyError as e:
            if e.code == "wrong_password":
                raise KeyMismatchError(
                    "the password in the keychain does not open the keystore (keychain and keystore do not match)",
                    fix="import the keystore again with its correct password",
                ) from None
            raise

    def ecdh_public_key(self) -> bytes:
        """The 65-byte public key registered on-chain; needs the encryption key file."""
        if not self.ecdh_path.exists():
            raise MissingEncryptionKeyError(
                f"the encryption key file {self.ecdh_path.name} is missing",
                fix="restore encryption.key from your backup; without it a registered worker cannot decrypt sessions",
            )
        scalar = ks.decrypt_ecdh_file(json.loads(self.ecdh_path.read_text()), self.password())
        return ks.ecdh_public_key(scalar)

    def verify(self) -> str:
        """Full check: keystore opens with the keychain password, ECDH file opens, addresses agree."""
        raw = self.unlock()
        from eth_account import Account

        addr = Account.from_key(raw).address
        if addr != self.address():
            raise KeyMismatchError("the keystore's address field does not match its key", fix="restore the keystore from a backup")
        self.ecdh_public_key()
        return addr

    # --- archive ---------------------------------------------------------------------------------
    def archive_active(self, reason: str) -> ArchivedKey | None:
        """Move the active key into the archive (still encrypted); its password moves to an archive entry."""
        if not self.has_key():
            return None
        address = self.address() or "unknown"
        meta = self.meta()
        archived = time.time()
        entry_id = f"{address.lower()}-{int(archived * 1000)}"
        dest = self.paths.archive_dir(self.network.name) / entry_id
        ensure_private_dir(dest.parent)
        pw = self.secrets.get(ACTIVE_PW)
        if pw is not None:
            self.secrets.set(f"archive:{entry_id}", pw)
        failpoints.hit("custody.archive.after_keychain")
        meta.update({"address": address, "network": self.network.name, "archived": archived, "reason": reason})
        atomic_write(self.key_dir / META, json.dumps(meta))
        os.rename(self.key_dir, dest)
        if pw is not None:
            self.secrets.delete(ACTIVE_PW)
        log.info("worker key %s archived (%s)", address, reason)
        return self._entry(dest)

    def replace(self, reason: str = "replaced", password: str | None = None) -> str:
        """Archive the active key and generate a new one."""
        self.archive_active(reason)
        return self.generate(password)

    def list_archive(self, check_staked: bool = True) -> list[ArchivedKey]:
        root = self.paths.archive_dir(self.network.name)
        if not root.exists():
            return []
        out = [self._entry(d) for d in sorted(root.iterdir()) if (d / KEYSTORE).exists()]
        if check_staked and self.staked_checker:
            checked = []
            for e in out:
                try:
                    flag = bool(self.staked_checker(e.address))
                except Exception as exc:  # chain unreachable: unknown, not False
                    log.warning("could not check stake of %s: %s", e.address, exc)
                    flag = None
                checked.append(ArchivedKey(**{**e.to_dict(), "still_staked": flag}))
            out = checked
        return sorted(out, key=lambda e: e.archived, reverse=True)

    def _entry(self, d: Path) -> ArchivedKey:
        meta = json.loads((d / META).read_text()) if (d / META).exists() else {}
        addr = meta.get("address") or ks.keystore_address(ks.parse_keystore((d / KEYSTORE).read_bytes()))
        return ArchivedKey(
            id=d.name, address=addr, network=meta.get("network", self.network.name),
            created=float(meta.get("created", 0)), archived=float(meta.get("archived", 0)),
            reason=meta.get("reason", ""),
        )

    @failpoints.scoped("recover")
    def restore(self, entry_id: str) -> str:
        """Make an archived key active again; the current active key is archived in turn."""
        src = self.paths.archive_dir(self.network.name) / entry_id
        if not entry_id or "/" in entry_id or not (src / KEYSTORE).exists():
            raise NotFoundError(f"no archived key {entry_id!r}", fix="pick one from 'keys list'")
        pw = self.secrets.get(f"archive:{entry_id}")
        if pw is None:
            raise KeyMismatchError("the keychain has no password for that archived key", fix="import its keystore with the password instead")
        data = ks.parse_keystore((src / KEYSTORE).read_bytes())
        ks.decrypt_keystore(data, pw)  # proves the pair before anything moves
        self.archive_active("replaced by restore")
        meta = json.loads((src / META).read_text()) if (src / META).exists() else {}
        meta.pop("archived", None)
        meta.pop("reason", None)
        atomic_write(src / META, json.dumps(meta))
        self.secrets.set(ACTIVE_PW, pw)
        failpoints.hit("custody.restore.after_keychain")
        os.rename(src, self.key_dir)
        self.secrets.delete(f"archive:{entry_id}")
        return ks.keystore_address(data)


def _scrypt_n(data: dict) -> int:
    try:
        crypto = data.get("crypto") or data.get("Crypto")
        return int(crypto["kdfparams"]["n"]) if crypto["kdf"] == "scrypt" else 0
    except (KeyError, TypeError, ValueError):
        return 0


def _parse_private_key(text: str) -> bytes:
    t = (text or "").strip().lower().removeprefix("0x")
    if len(t) != 64 or any(c not in "0123456789abcdef" for c in t):
        raise ValidationError(
            "a private key must be 64 hexadecimal characters (optionally starting with 0x)",
            fix="paste the whole key without spaces",
            field="private_key",
        )
    raw = bytes.fromhex(t)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    if not 0 < int.from_bytes(raw, "big") < n:
        raise ValidationError("that private key is out of range for secp256k1", fix="check the key you pasted", field="private_key")
    return raw
