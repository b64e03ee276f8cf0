"""Import a toolkit / LightNode worker (keeping its encryption key) and export a toolkit-compatible backup."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys

import pytest
from eth_account import Account

from tests.fakes.secrets import MemSecrets
from tray_agent.common.errors import (
    CorruptKeystoreError,
    KeyCustodyError,
    MissingEncryptionKeyError,
    NotFoundError,
    ValidationError,
    WrongPasswordError,
)
from tray_agent.common.paths import Paths
from tray_agent.core.keys import KeyCustody
from tray_agent.core.keys import keystore as ks
from tray_agent.core.keys.toolkit_io import export_backup, import_worker, locate
from tray_agent.core.networks import get_network

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PW = "0123456789abcdef0123456789abcdef0123456789abcdef"  # openssl rand -hex 24, as the docs do




def custody_for(tmp_path, profile: str = "p1", net: str = "testnet") -> KeyCustody:
    os.environ["LCAI_TRAY_HOME"] = str(tmp_path / "home")
    paths = Paths.for_profile(profile).ensure()
    return KeyCustody(paths, get_network(net).replace(scrypt_n=1024), MemSecrets())


def make_worker(folder, *, layout: str = "official", password: str = PW, chain_id: int | None = 8200):
    """A worker folder as the toolkit writes it; returns (address, ECDH public key)."""
    acct = Account.create()
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps(ks.encrypt_keystore(bytes(acct.key), password, 1024))
    ecdh, pub = ks.create_ecdh_file(password)
    if layout == "official":
        (folder / "keystore.json").write_text(data)
        (folder / "encryption.key").write_text(json.dumps(ecdh))
        if chain_id:
            (folder / "env").write_text(f"CHAIN_ID={chain_id}\nWORKER_KEYSTORE_PASSWORD={password}\n")
    else:
        (folder / "eth-keystore").mkdir()
        (folder / "eth-keystore" / f"UTC--2024-05-01T10-00-00.0Z--{acct.address[2:].lower()}").write_text(data)
        (folder / "worker-encryption.key").write_text(json.dumps(ecdh))
        (folder / "session-keys.enc").write_text("{}")
    return acct.address, pub


@pytest.fixture(autouse=True)
def _home(monkeypatch, tmp_path):
    monkeypatch.setenv("LCAI_TRAY_HOME", str(tmp_path / "home"))


def test_official_layout_keeps_its_encryption_key(tmp_path):
    addr, pub = make_worker(tmp_path / "etc-lightchain-worker")
    c = custody_for(tmp_path)
    res = import_worker(c, tmp_path / "etc-lightchain-worker", PW)
    assert res.address == addr == c.address() and res.layout == "official" and not res.password_changed
    assert c.ecdh_public_key() == pub  # the registered key, not a new one
    assert c.password() == PW and c.verify() == addr


@pytest.mark.parametrize("pick", ["root", "network", "eth-keystore", "file"])
def test_legacy_layout_from_any_folder_level(tmp_path, pick):
    root = tmp_path / "lightchain-worker"
    addr, pub = make_worker(root / "keys-testnet", layout="legacy")
    make_worker(root / "keys-mainnet", layout="legacy")  # another network's worker beside it
    target = {"root": root, "network": root / "keys-testnet", "eth-keystore": root / "keys-testnet" / "eth-keystore",
              "file": next((root / "keys-testnet" / "eth-keystore").iterdir())}[pick]
    c = custody_for(tmp_path)
    res = import_worker(c, target, PW)
    assert res.address == addr and res.layout == "legacy" and res.encryption_key.name == "worker-encryption.key"
    assert c.ecdh_public_key() == pub


def test_foreign_network_is_refused_and_nothing_written(tmp_path):
    root = tmp_path / "lightchain-worker"
    make_worker(root / "keys-mainnet", layout="legacy")
    c = custody_for(tmp_path)
    with pytest.raises(ValidationError) as ei:
        import_worker(c, root, PW)
    assert ei.value.code == "foreign_network" and "mainnet" in ei.value.message and "keys-testnet" in ei.value.fix
    with pytest.raises(ValidationError, match="belongs to a mainnet worker"):
        import_worker(c, root / "keys-mainnet", PW)
    make_worker(tmp_path / "official-main", chain_id=9200)
    with pytest.raises(ValidationError, match="belongs to a mainnet worker"):
        import_worker(c, tmp_path / "official-main", PW)
    assert not c.has_key() and not c.key_dir.exists()


def test_wrong_password_corrupt_json_and_missing_files_name_the_file(tmp_path):
    c = custody_for(tmp_path)
    make_worker(tmp_path / "w")
    with pytest.raises(WrongPasswordError) as ei:
        import_worker(c, tmp_path / "w", "not-the-password-1")
    assert str(tmp_path / "w" / "keystore.json") in ei.value.message and "env file" in ei.value.fix
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "keystore.json").write_text("{not json")
    with pytest.raises(CorruptKeystoreError) as ei:
        import_worker(c, tmp_path / "bad", PW)
    assert "keystore.json" in ei.value.message and "backup" in ei.value.fix
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError) as ei:
        import_worker(c, tmp_path / "empty", PW)
    assert str(tmp_path / "empty") in ei.value.message and "eth-keystore" in ei.value.fix
    make_worker(tmp_path / "noecdh")
    (tmp_path / "noecdh" / "encryption.key").unlink()
    with pytest.raises(MissingEncryptionKeyError, match="no encryption key file"):
        import_worker(c, tmp_path / "noecdh", PW)
    make_worker(tmp_path / "mixed")
    (tmp_path / "mixed" / "encryption.key").write_text(json.dumps(ks.create_ecdh_file("another-password-1")[0]))
    with pytest.raises(WrongPasswordError, match="not .*encryption.key"):
        import_worker(c, tmp_path / "mixed", PW)
    with pytest.raises(NotFoundError, match="does not exist"):
        locate(tmp_path / "nope", "testnet")
    assert not c.has_key()


def test_an_active_key_is_never_overwritten(tmp_path):
    c = custody_for(tmp_path)
    addr, _ = make_worker(tmp_path / "w")
    import_worker(c, tmp_path / "w", PW)
    with pytest.raises(KeyCustodyError) as ei:
        import_worker(c, tmp_path / "w", PW)
    assert ei.value.code == "key_already_active"
    make_worker(tmp_path / "other")
    before = c.keystore_path.read_bytes()
    with pytest.raises(KeyCustodyError) as ei:
        import_worker(c, tmp_path / "other", PW)
    assert ei.value.code == "key_exists" and "replace" in ei.value.fix
    assert c.keystore_path.read_bytes() == before and c.address() == addr
    with pytest.raises(WrongPasswordError):  # asked to archive, but a check fails: the active key stays
        import_worker(c, tmp_path / "other", "wrong-password-1", archive_active=True)
    assert c.address() == addr and not c.list_archive(check_staked=False)
    res = import_worker(c, tmp_path / "other", PW, archive_active=True)
    assert c.address() == res.address != addr
    assert [e.address for e in c.list_archive(check_staked=False)] == [addr]


def test_a_password_unusable_in_env_files_is_replaced_keeping_the_keys(tmp_path):
    addr, pub = make_worker(tmp_path / "w", password="has a space in it")
    c = custody_for(tmp_path)
    res = import_worker(c, tmp_path / "w", "has a space in it")
    assert res.password_changed and c.password() != "has a space in it"
    assert c.verify() == addr and c.ecdh_public_key() == pub


def test_export_is_toolkit_compatible_and_private(tmp_path):
    c = custody_for(tmp_path)
    addr = c.generate(PW)
    pub = c.ecdh_public_key()
    dest = tmp_path / "backup"
    files = export_backup(c, dest, ["llama3-8b"])
    assert [f.name for f in files] == ["keystore.json", "encryption.key", "env"]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    env = (dest / "env").read_text()
    assert PW not in env and "# WORKER_KEYSTORE_PASSWORD=" in env
    for line in ("CHAIN_ID=8200", "WORKER_KEYSTORE_PATH=/etc/lightchain/worker/keystore.json",
                 "ENCRYPTION_KEYSTORE_PATH=/etc/lightchain/worker/encryption.key", "SUPPORTED_MODELS=llama3-8b",
                 "RELEASE_STATE_PATH=/var/lib/lightchain-worker/release_state.json", "SHUTDOWN_TIMEOUT=240s"):
        assert line in env.splitlines()
    with pytest.raises(ValidationError, match="not an empty folder"):
        export_backup(c, dest, ["llama3-8b"])
    export_backup(c, tmp_path / "with-pw", ["llama3-8b"], include_password=True)
    assert f"WORKER_KEYSTORE_PASSWORD={PW}" in (tmp_path / "with-pw" / "env").read_text()
    # round trip: the backup imports as the same worker with the same encryption key
    other = custody_for(tmp_path, "p2")
    assert import_worker(other, dest, PW).address == addr and other.ecdh_public_key() == pub


def test_exported_backup_runs_the_worker_image_stand_in(tmp_path):
    """The env + files start the (simulated) official worker: keystore opens, state goes where env says."""
    from tests.plugins.docker import free_port
    from tests.runtime.conftest import wait_for
    from tray_agent.core.runtime import metrics

    c = custody_for(tmp_path, net="devnet")
    c.generate(PW)
    dest = tmp_path / "etc"
    export_backup(c, dest, ["llama3-8b"], include_password=True)
    env = dict(line.split("=", 1) for line in (dest / "env").read_text().splitlines() if "=" in line
               and not line.startswith("#"))
    env = {k: v.replace("/etc/lightchain/worker", str(dest)).replace("/var/lib/lightchain-worker",
                                                                      str(tmp_path / "var")) for k, v in env.items()}
    env.pop("RPC_URL", None)
    port = free_port()
    env.update(PATH=os.environ.get("PATH", ""), PYTHONPATH=ROOT, WORKER_METRICS_ADDR=f"127.0.0.1:{port}")
    (tmp_path / "var").mkdir()
    p = subprocess.Popen([sys.executable, "-m", "tray_agent.devnet.sim_worker"], env=env, cwd=ROOT,
                         stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: p.poll() is not None or metrics.fetch_metrics(f"http://127.0.0.1:{port}", 1)[0], 30, 0.1,
                 "healthz")
        assert p.poll() is None
        p.send_signal(signal.SIGTERM)
        assert p.wait(15) == 0
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate(timeout=10)
    assert (tmp_path / "var" / "release_state.json").exists()
