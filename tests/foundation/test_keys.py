"""Key custody against real crypto and a real keyring backend (file backend pinned here; Secret Service below)."""

import json
import os
import stat
import subprocess
import sys

import pytest
from eth_account import Account

from tray_agent.common import atomic
from tray_agent.common.errors import (
    CorruptKeystoreError,
    KeychainUnavailableError,
    KeyCustodyError,
    KeyMismatchError,
    MissingEncryptionKeyError,
    ValidationError,
    WrongPasswordError,
)
from tray_agent.core.keys import KeyCustody
from tray_agent.core.keys import keystore as ks
from tray_agent.core.keys.secrets import FileSecretStore, KeyringStore, check_password, generate_password
from tray_agent.core.networks import get_network

PW = "Correct-Horse-42"


@pytest.fixture
def devnet():
    return get_network("devnet")


@pytest.fixture
def store(tmp_path):
    return FileSecretStore(tmp_path / "secrets" / "s.json", "svc")


@pytest.fixture
def custody(paths, devnet, store):
    return KeyCustody(paths, devnet, store)


def test_generate_writes_toolkit_layout_with_private_modes(custody):
    addr = custody.generate(PW)
    assert addr == custody.address() and addr.startswith("0x")
    data = json.loads(custody.keystore_path.read_text())
    assert data["version"] == 3 and data["address"] == addr[2:].lower()
    assert data["crypto"]["kdf"] == "scrypt" and data["crypto"]["cipher"] == "aes-128-ctr"
    for f in (custody.keystore_path, custody.ecdh_path):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert stat.S_IMODE(custody.key_dir.stat().st_mode) == 0o700
    ecdh = json.loads(custody.ecdh_path.read_text())
    assert set(ecdh) == {"version", "salt", "encryptedKey"} and ecdh["version"] == 1
    assert custody.verify() == addr
    pub = custody.ecdh_public_key()
    assert len(pub) == 65 and pub[0] == 4


def test_eth_account_opens_ours_and_we_open_eth_accounts(custody):
    addr = custody.generate(PW)
    raw = Account.decrypt(json.loads(custody.keystore_path.read_text()), PW)
    assert Account.from_key(raw).address == addr
    acct = Account.create()
    theirs = Account.encrypt(acct.key, PW, kdf="scrypt", iterations=1024)
    assert ks.decrypt_keystore(theirs, PW) == bytes(acct.key)


def test_real_network_uses_geth_standard_scrypt(paths, store):
    c = KeyCustody(paths, get_network("testnet"), store)
    c.generate(PW)
    params = json.loads(c.keystore_path.read_text())["crypto"]["kdfparams"]
    assert (params["n"], params["r"], params["p"], params["dklen"]) == (262144, 8, 1, 32)


def test_no_second_key_while_one_exists(custody):
    custody.generate(PW)
    with pytest.raises(KeyCustodyError) as e:
        custody.generate(PW)
    assert e.value.code == "key_exists"


def test_import_private_key_and_keystore(paths, devnet, tmp_path):
    acct = Account.create()
    c1 = KeyCustody(paths, devnet, FileSecretStore(tmp_path / "a.json", "a"))
    assert c1.import_private_key("0x" + acct.key.hex(), PW) == acct.address
    other = KeyCustody(paths, get_network("testnet"), FileSecretStore(tmp_path / "b.json", "b"))
    text = json.dumps(Account.encrypt(acct.key, PW, kdf="scrypt", iterations=2048))
    assert other.import_keystore(text, PW) == acct.address
    assert other.unlock() == bytes(acct.key)
    # upgraded to the network's scrypt strength
    assert json.loads(other.keystore_path.read_text())["crypto"]["kdfparams"]["n"] == 262144


@pytest.mark.parametrize("bad", ["", "xyz", "0x123", "g" * 64, "0" * 64, "ff" * 32 + "00"])
def test_bad_private_key_input(custody, bad):
    with pytest.raises(ValidationError) as e:
        custody.import_private_key(bad, PW)
    assert e.value.field == "private_key"
    assert not custody.has_key()


def test_distinct_errors(custody, store):
    addr = custody.generate(PW)
    data = json.loads(custody.keystore_path.read_text())
    with pytest.raises(WrongPasswordError):
        ks.decrypt_keystore(data, "wrong-password-1")
    with pytest.raises(CorruptKeystoreError):
        ks.parse_keystore("{not json")
    with pytest.raises(CorruptKeystoreError):
        ks.parse_keystore(json.dumps({"version": 3}))
    broken = json.loads(json.dumps(data))
    broken["crypto"]["ciphertext"] = "00" * 32
    with pytest.raises((WrongPasswordError, CorruptKeystoreError)):
        ks.decrypt_keystore(broken, PW)
    # keychain holds another password → mismatch, nothing overwritten
    before = custody.keystore_path.read_bytes()
    store.set("keystore-password", "Another-Password-9")
    with pytest.raises(KeyMismatchError):
        custody.unlock()
    assert custody.keystore_path.read_bytes() == before
    store.set("keystore-password", PW)
    custody.ecdh_path.unlink()
    with pytest.raises(MissingEncryptionKeyError):
        custody.ecdh_public_key()
    assert custody.address() == addr


def test_crash_between_write_and_rename_keeps_old_key(custody, monkeypatch):
    addr = custody.generate(PW)
    before = custody.keystore_path.read_bytes()

    def boom(tmp, final):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic, "_before_rename", boom)
    with pytest.raises(OSError):
        custody.replace("rotate", PW)
    # the archive step failed writing meta → active key untouched and complete
    assert custody.address() == addr and custody.keystore_path.read_bytes() == before
    leftovers = [p for p in custody.key_dir.parent.rglob("*") if ".tmp-" in p.name or ".keys-staging" in p.name]
    assert leftovers == []


def test_kill_mid_write_never_leaves_half_keystore(paths, devnet, tmp_path):
    """A process killed while installing a key leaves either no active key or a complete one."""
    script = f"""
import os, signal
from tray_agent.common import atomic
from tray_agent.core.keys import KeyCustody
from tray_agent.core.keys.secrets import FileSecretStore
from tray_agent.core.networks import get_network
from tray_agent.common.paths import Paths
def die(tmp, final):
    if final.name == "keystore.json":
        os.kill(os.getpid(), signal.SIGKILL)
atomic._before_rename = die
KeyCustody(Paths.for_profile("test"), get_network("devnet"), FileSecretStore({str(tmp_path / 'k.json')!r}, "s")).generate("{PW}")
"""
    r = subprocess.run([sys.executable, "-c", script], env=os.environ.copy(), timeout=60)
    assert r.returncode == -9
    c = KeyCustody(paths, devnet, FileSecretStore(tmp_path / "k.json", "s"))
    assert not c.has_key()
    addr = c.generate(PW)  # a clean retry works
    assert c.verify() == addr


def test_archive_restore_cycle(custody, store):
    first = custody.generate(PW)
    second = custody.replace("user asked", "Second-Password-7")
    assert second != first and custody.address() == second
    arch = custody.list_archive()
    assert [a.address for a in arch] == [first]
    assert arch[0].reason == "user asked" and arch[0].network == "devnet" and arch[0].archived > 0
    # archived keystore stays encrypted; its password moved to an archive entry
    assert store.get(f"archive:{arch[0].id}") == PW
    assert store.get("keystore-password") == "Second-Password-7"
    restored = custody.restore(arch[0].id)
    assert restored == first and custody.address() == first
    assert custody.unlock() and custody.verify() == first
    assert [a.address for a in custody.list_archive()] == [second]


def test_still_staked_hook(custody):
    custody.generate(PW)
    custody.replace("r", PW)
    custody.staked_checker = lambda addr: True
    assert custody.list_archive()[0].still_staked is True

    def unreachable(addr):
        raise ConnectionError("rpc down")

    custody.staked_checker = unreachable
    assert custody.list_archive()[0].still_staked is None


def test_restore_unknown_id(custody):
    with pytest.raises(Exception, match="no archived key"):
        custody.restore("../../etc")


@pytest.mark.parametrize("pw, ok", [("", False), ("short", False), ("é" * 12, False), ("x" * 300, False),
                                     ("has space in it", False), ("quote'quote1", False), ("abcdefghij", True)])
def test_password_rules(pw, ok):
    if ok:
        assert isinstance(check_password(pw), list)
    else:
        with pytest.raises(ValidationError) as e:
            check_password(pw)
        assert e.value.field == "password"


def test_generated_password_is_env_and_shell_safe():
    pw = generate_password()
    assert len(pw) == 32 and pw.isalnum() and check_password(pw) == []


def test_file_keyring_backend_refused_by_default(file_keyring, monkeypatch):
    """keyrings.alt is test-only; the app never uses a plaintext/prompting backend silently."""
    import keyring
    from keyring.backends import chainer
    from keyrings.alt.file import EncryptedKeyring, PlaintextKeyring

    # what keyring picks on a machine with keyrings.alt and no Secret Service
    monkeypatch.setattr(chainer.ChainerBackend, "backends", property(lambda self: [EncryptedKeyring(), PlaintextKeyring()]))
    keyring.set_keyring(chainer.ChainerBackend())
    with pytest.raises(KeychainUnavailableError):
        KeyringStore("svc")


def test_fail_backend_gives_clear_error():
    import keyring
    from keyring.backends import fail

    old = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(KeychainUnavailableError) as e:
            KeyringStore("svc")
        assert "--secrets-file" in e.value.fix
    finally:
        keyring.set_keyring(old)


def test_real_secret_service_round_trip(secret_service_keyring, paths, devnet):
    store = KeyringStore(paths.keyring_service("devnet"))
    assert "SecretService" in store.backend_name
    c = KeyCustody(paths, devnet, store)
    addr = c.generate()  # generated password, stored and read back from the keychain
    assert c.verify() == addr
    import keyring

    assert keyring.get_password(paths.keyring_service("devnet"), "keystore-password") == store.get("keystore-password")
    c.replace("rotate")
    assert c.list_archive()[0].address == addr
    store.delete("keystore-password")
