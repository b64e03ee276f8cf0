"""Move in and move out: import a worker made by the official toolkit or LightNode, export a toolkit backup.

Import (spec/toolkit.md §5.7 layouts) keeps the worker's **own encryption key**, so a registered worker keeps its
stake, models and sessions:

- official: ``keystore.json`` + ``encryption.key`` (+ ``env``), e.g. ``/etc/lightchain/worker/``;
- legacy toolkit / LightNode: ``eth-keystore/UTC--<ts>--<addr>`` + ``worker-encryption.key``, per network in
  ``~/lightchain-worker/keys-mainnet/`` and ``keys-testnet/`` (the root folder, a network folder, its
  ``eth-keystore/`` folder or the keystore file itself may be chosen); the shared ``keys/`` folder of old versions.

Every refusal names the file and the fix, and nothing is written before all checks pass: wrong password, foreign
network, corrupted JSON, a key already active, a folder without keys, a missing encryption key.

Export writes ``keystore.json``, ``encryption.key`` and the docs' ``env`` (§3.4) into an empty folder, mode 0600
(folder 0700); the password goes into ``env`` only when asked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from tray_agent.common.atomic import atomic_write, ensure_private_dir
from tray_agent.common.errors import (
    CorruptKeystoreError,
    KeyCustodyError,
    MissingEncryptionKeyError,
    NotFoundError,
    ValidationError,
    WrongPasswordError,
)

from . import keystore as ks
from .custody import KeyCustody
from .secrets import check_password, generate_password

ECDH_NAMES = ("encryption.key", "worker-encryption.key")
ENV_NAMES = ("env", "worker.env", ".env")
CFG_IN = "/etc/lightchain/worker"  # official docs layout inside the container
STATE_IN = "/var/lib/lightchain-worker"
_NET_DIR = re.compile(r"^keys-(mainnet|testnet)$")
_PICK_FIX = "choose the folder that holds keystore.json (official) or eth-keystore/ (toolkit, LightNode)"


@dataclass(frozen=True)
class FoundWorker:
    layout: str  # official | legacy
    folder: Path
    keystore: Path
    encryption_key: Path | None
    network: str | None  # what the folder says (keys-<net>/, env CHAIN_ID or NETWORK), None = not said


@dataclass(frozen=True)
class ImportResult:
    address: str
    layout: str
    keystore: Path
    encryption_key: Path
    password_changed: bool  # the old password was not usable in an env file: files re-encrypted with a new one


def _chain_network(chain_id: str) -> str | None:
    return {"8200": "testnet", "9200": "mainnet", "31337": "devnet"}.get(chain_id.strip())


def _env_network(folder: Path) -> str | None:
    for name in ENV_NAMES:
        f = folder / name
        if not f.is_file():
            continue
        values = dict(line.split("=", 1) for line in f.read_text(errors="replace").splitlines()
                      if "=" in line and not line.lstrip().startswith("#"))
        net = _chain_network(values.get("CHAIN_ID", "")) or (values.get("NETWORK") or "").strip().lower() or None
        if net:
            return net
    return None


def _utc_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("UTC--*") if p.is_file())


def locate(path: str | Path, network: str) -> FoundWorker:
    """Find the worker files below ``path`` for ``network``; raises with the file and the fix."""
    p = Path(path).expanduser()
    if not p.exists():
        raise NotFoundError(f"{p} does not exist", fix=_PICK_FIX, field="path")
    if p.is_file():
        folder = p.parent.parent if p.parent.name == "eth-keystore" else p.parent
        keystore = p
    else:
        folder, keystore = p, None  # type: ignore[assignment]
        nets = {m.group(1): d for d in p.iterdir() if d.is_dir() and (m := _NET_DIR.match(d.name))}
        if nets:  # ~/lightchain-worker: one folder per network
            if network not in nets:
                other = ", ".join(f"{n} ({d.name}/)" for n, d in sorted(nets.items()))
                raise ValidationError(f"{p} holds workers of {other}, none of {network}",
                                      fix=f"switch the app to that network first, or choose a keys-{network} folder",
                                      field="path", code="foreign_network")
            folder = nets[network]
        elif p.name == "eth-keystore":
            folder = p.parent
        elif not (p / "keystore.json").exists() and not (p / "eth-keystore").is_dir() and (p / "keys").is_dir():
            folder = p / "keys"  # legacy shared folder of old versions
        if (folder / "keystore.json").is_file():
            keystore = folder / "keystore.json"
        else:
            files = _utc_files(folder / "eth-keystore") or _utc_files(folder)
            addrs = {f.name.rsplit("--", 1)[-1].lower() for f in files}
            if len(addrs) > 1:
                raise ValidationError(f"{folder} holds keystores of {len(addrs)} workers",
                                      fix="choose the one keystore file (UTC--…) of the worker to import", field="path")
            if not files:
                raise NotFoundError(f"no worker key in {folder} (looked for keystore.json and eth-keystore/UTC--…)",
                                    fix=_PICK_FIX, field="path")
            keystore = files[-1]
    layout = "official" if keystore.name == "keystore.json" else "legacy"
    ecdh = next((folder / n for n in ECDH_NAMES if (folder / n).is_file()), None)
    m = _NET_DIR.match(folder.name)
    said = m.group(1) if m else _env_network(folder)
    if said and said != network:
        raise ValidationError(f"{folder} belongs to a {said} worker, not {network}",
                              fix=f"switch the app to {said} to import it, or choose the {network} keys",
                              field="path", code="foreign_network")
    return FoundWorker(layout, folder, keystore, ecdh, said)


def _read_json(f: Path, what: str) -> dict:
    try:
        data = json.loads(f.read_bytes())
    except (OSError, ValueError, UnicodeDecodeError):
        raise CorruptKeystoreError(f"{f} is not valid JSON, so it is not a readable {what}",
                                   fix=f"restore {f.name} from a backup copy") from None
    if not isinstance(data, dict):
        raise CorruptKeystoreError(f"{f} is not a {what}", fix=f"restore {f.name} from a backup copy")
    return data


def import_worker(custody: KeyCustody, path: str | Path, password: str, *,
                  archive_active: bool = False) -> ImportResult:
    """Make an existing worker the active key of ``custody.network``, with its own encryption key.

    ``archive_active``: an active key of another worker is archived (its stake stays with it) — only after every
    check of the imported files passed; without it an active key is a refusal."""
    net = custody.network.name
    found = locate(path, net)
    data = _read_json(found.keystore, "keystore")
    try:
        data = ks.parse_keystore(json.dumps(data))
        address = ks.keystore_address(data)
    except CorruptKeystoreError as e:
        raise CorruptKeystoreError(f"{found.keystore}: {e.message}", fix=e.fix) from None
    if custody.has_key():
        active = custody.address()
        if active == address:
            raise KeyCustodyError(f"the worker {address} is already the active key for {net}",
                                  fix="nothing to import: it is in use", code="key_already_active")
        if not archive_active:
                raise KeyCustodyError(f"another worker key ({active}) is active for {net}; nothing was changed",
                                  fix="replace the active key first (its stake stays with it and can be recovered "
                                      "later), then import", code="key_exists")
    if found.encryption_key is None:
        raise MissingEncryptionKeyError(
            f"{found.folder} has no encryption key file ({' or '.join(ECDH_NAMES)})",
            fix="copy the worker's encryption key file next to its keystore; without it a registered worker "
                "cannot decrypt its sessions and would have to deregister and register again")
    try:
        raw = ks.decrypt_keystore(data, password)
    except WrongPasswordError:
        raise WrongPasswordError(f"the password does not open {found.keystore}",
                                 fix="type WORKER_KEYSTORE_PASSWORD from the worker's env file (case-sensitive)",
                                 field="password") from None
    except CorruptKeystoreError as e:
        raise CorruptKeystoreError(f"{found.keystore}: {e.message}", fix=e.fix) from None
    ecdh = _read_json(found.encryption_key, "encryption key file")
    try:
        scalar = ks.decrypt_ecdh_file(ecdh, password)
    except WrongPasswordError:
        raise WrongPasswordError(f"the password opens the keystore but not {found.encryption_key}",
                                 fix="both files must come from the same worker (one password opens both); "
                                     "restore the matching encryption key") from None
    except CorruptKeystoreError:
        raise CorruptKeystoreError(f"{found.encryption_key} is damaged",
                                   fix=f"restore {found.encryption_key.name} from a backup copy") from None
    changed = False
    try:
        check_password(password)
    except ValidationError:  # e.g. spaces or quotes: unusable in the container env; same keys, new password
        password = generate_password()
        data = ks.encrypt_keystore(raw, password, custody.network.scrypt_n)
        ecdh = ks.encrypt_ecdh_scalar(scalar, password)
        changed = True
    if custody.has_key():  # archive_active: every check passed, now the old key moves to the archive
        custody.archive_active(f"replaced by the imported worker {address}")
    address = custody.import_files(data, ecdh, password)
    return ImportResult(address, found.layout, found.keystore, found.encryption_key, changed)


def toolkit_env(custody: KeyCustody, models: list[str], *, password: str | None = None,
                ollama_url: str = "http://host.docker.internal:11434") -> str:
    """The env file the official docs write (toolkit.md §3.4) for this worker."""
    n = custody.network
    pairs = [
        ("RPC_URL", n.rpc_url), ("CHAIN_ID", str(n.chain_id)), ("BEACON_API_URL", n.beacon_url),
        ("WORKER_REGISTRY_ADDRESS", n.worker_registry), ("AI_CONFIG_ADDRESS", n.ai_config),
        ("JOB_REGISTRY_ADDRESS", n.job_registry),
        ("SESSION_MANAGER_ADDRESS", n.session_manager if n.sortition_enabled else ""),
        ("SORTITION_ENABLED", "true" if n.sortition_enabled else "false"), ("WORKER_GATEWAY_URL", n.gateway_url),
        ("WORKER_KEYSTORE_PATH", f"{CFG_IN}/keystore.json"),
        ("WORKER_KEYSTORE_PASSWORD", password or ""),
        ("ENCRYPTION_KEYSTORE_PATH", f"{CFG_IN}/encryption.key"), ("SUPPORTED_MODELS", ",".join(models)),
        ("OLLAMA_URL", ollama_url), ("SHUTDOWN_TIMEOUT", "240s"),
        ("SESSION_KEY_FILE", f"{STATE_IN}/session-keys.enc"), ("SORTITION_STATE_DIR", f"{STATE_IN}/sortition-state"),
        ("RELEASE_STATE_PATH", f"{STATE_IN}/release_state.json"), ("LOG_FORMAT", "text"),
    ]
    lines = [f"# lightchain-worker env for {custody.address()} on {n.name} (written by lcai-worker-tray)"]
    for k, v in pairs:
        if k == "WORKER_KEYSTORE_PASSWORD" and not v:
            lines.append("# WORKER_KEYSTORE_PASSWORD=<the keystore password: not written to this file>")
        elif v:
            lines.append(f"{k}={v}")
    return "\n".join(lines) + "\n"


def export_backup(custody: KeyCustody, dest: str | Path, models: list[str], *,
                  include_password: bool = False) -> list[Path]:
    """Write keystore.json, encryption.key and env into the empty (or new) folder ``dest``; returns the files."""
    if not custody.has_key():
        raise NotFoundError(f"no worker key for {custody.network.name} to export", fix="run setup first")
    if not custody.ecdh_path.exists():
        raise MissingEncryptionKeyError(f"the encryption key file {custody.ecdh_path} is missing",
                                        fix="restore encryption.key from your backup before exporting")
    dest = Path(dest).expanduser()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ValidationError(f"{dest} is not an empty folder", fix="choose a new or empty folder: a backup never "
                              "overwrites files", field="path")
    password = custody.password() if include_password else None
    ensure_private_dir(dest)
    out = [dest / "keystore.json", dest / "encryption.key", dest / "env"]
    atomic_write(out[0], custody.keystore_path.read_bytes(), 0o600)
    atomic_write(out[1], custody.ecdh_path.read_bytes(), 0o600)
    atomic_write(out[2], toolkit_env(custody, models, password=password), 0o600)
    return out
