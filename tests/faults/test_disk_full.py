"""Disk full while writing a keystore: the old key stays intact (active, or archived and restorable), no partial
key directory is left, and the error says what happened.

A real small tmpfs when mount works (root), else ENOSPC injected at the atomic-write rename hook.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need

PW = "Disk-Full-Password-1"


def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                       capture_output=True, text=True)
    return r.returncode == 0


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(path: Path) -> None:
    """Fill the filesystem of ``path`` to the last byte."""
    fd = os.open(path / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 1):
            chunk = b"\0" * size
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, chunk)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.sync()


@pytest.fixture
def tmpfs_home(tmp_path, monkeypatch):
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "512k"):
        need(False, "mount -t tmpfs (root; the simulated ENOSPC test covers the rest locally)")
    monkeypatch.setenv("LCAI_TRAY_HOME", str(mnt / "home"))
    monkeypatch.setenv("LCAI_TRAY_PROFILE", "full")
    yield mnt
    _umount(mnt)


def _custody(secrets_path: Path):
    from tray_agent.common.paths import Paths
    from tray_agent.core.keys.custody import KeyCustody
    from tray_agent.core.keys.secrets import FileSecretStore
    from tray_agent.core.networks import get_network

    paths = Paths.for_profile("full").ensure()
    store = FileSecretStore(secrets_path, "svc")
    return KeyCustody(paths, get_network("devnet"), store)


def _assert_old_key_intact(c, old_addr: str, old_keystore: bytes) -> str:
    """The old key is active and opens with the keychain password, or it is archived and can be restored."""
    from tray_agent.core.keys import keystore as ks

    net_dir = c.key_dir.parent
    assert not [p for p in net_dir.iterdir() if p.name.startswith(".keys-staging")], "a partial key dir was left"
    if c.has_key():
        assert c.address() == old_addr
        assert c.keystore_path.read_bytes() == old_keystore
        c.verify()
        return "active"
    archive = c.list_archive(check_staked=False)
    match = [e for e in archive if e.address == old_addr]
    assert match, f"the old key is neither active nor archived: {[e.address for e in archive]}"
    d = c.paths.archive_dir(c.network.name) / match[0].id
    assert ks.keystore_address(ks.parse_keystore((d / "keystore.json").read_bytes())) == old_addr
    assert c.secrets.get(f"archive:{match[0].id}") == PW
    return "archived"


def test_disk_full_on_a_real_tmpfs_keeps_the_old_key(tmpfs_home, tmp_path):
    c = _custody(tmp_path / "secrets.json")  # passwords outside the full filesystem (the keychain)
    old = c.generate(PW)
    old_ks = c.keystore_path.read_bytes()
    _fill(tmpfs_home)
    with pytest.raises(OSError) as ei:
        c.replace("rotation while the disk is full", password=PW)
    assert ei.value.errno == errno.ENOSPC
    where = _assert_old_key_intact(c, old, old_ks)
    (tmpfs_home / "filler").unlink()
    if where == "archived":  # space is back: the old key comes back with one restore
        entry = [e for e in c.list_archive(check_staked=False) if e.address == old][0]
        assert c.restore(entry.id) == old
    c.verify()


def test_disk_full_on_first_key_leaves_nothing_half_written(tmpfs_home, tmp_path):
    c = _custody(tmp_path / "secrets.json")
    c.paths.key_dir("devnet").parent.mkdir(parents=True, exist_ok=True)
    _fill(tmpfs_home)
    with pytest.raises(OSError) as ei:
        c.generate(PW)
    assert ei.value.errno == errno.ENOSPC
    assert not c.has_key() and not c.key_dir.exists()
    assert not [p for p in c.key_dir.parent.iterdir() if p.name.startswith(".keys-staging")]
    (tmpfs_home / "filler").unlink()
    assert c.generate(PW)  # works once there is space


@pytest.mark.parametrize("fail_on", ["keystore.json", "encryption.key", "key-meta.json"])
def test_simulated_enospc_at_each_key_file(lcai_home, tmp_path, monkeypatch, fail_on):
    """No root needed: the atomic-write hook raises ENOSPC right before the rename of one key file."""
    from tray_agent.common import atomic

    c = _custody(tmp_path / "secrets.json")
    old = c.generate(PW)
    old_ks = c.keystore_path.read_bytes()

    def boom(tmp: str, final: Path) -> None:
        if Path(final).name == fail_on and ".keys-staging" in str(final):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(final))

    monkeypatch.setattr(atomic, "_before_rename", boom)
    with pytest.raises(OSError) as ei:
        c.replace("rotation", password=PW)
    assert ei.value.errno == errno.ENOSPC
    _assert_old_key_intact(c, old, old_ks)
    leftovers = [p.name for p in c.key_dir.parent.rglob(".*.tmp-*")]
    assert not leftovers, f"temp files left behind: {leftovers}"


def test_simulated_enospc_writing_state_keeps_the_old_file(lcai_home, monkeypatch):
    """The JSON state files (onboarding, settings) keep their old content when a write fails."""
    from tray_agent.common import atomic
    from tray_agent.core.store import JsonStore

    p = lcai_home / "state.json"
    s = JsonStore(p, {"a": 1})
    s.update(a=2)
    before = p.read_bytes()

    def boom(tmp: str, final: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(final))

    monkeypatch.setattr(atomic, "_before_rename", boom)
    with pytest.raises(OSError):
        s.update(a=3)
    assert p.read_bytes() == before and json.loads(before)["a"] == 2
    assert JsonStore(p, {"a": 1}).damaged is None


# --- end to end: the agent's network folder on a full tmpfs while onboarding creates the key ----------------
@pytest.fixture(scope="module")
def full_disk_onboarding(tmp_path_factory):
    """Run once: agent up, network dir on a 4 MB tmpfs, filled, then POST the password; free space, retry."""
    from tray_agent.core.devnet import DevnetError, find_anvil

    try:
        find_anvil()
    except DevnetError:
        need(False, "anvil")
    from tests.harness import MODEL, AgentProc

    home = Path(tmp_path_factory.mktemp("fullapi"))
    a = AgentProc(home, profile="fullapi", secrets_file=home / "secrets" / "secrets.json")
    net = a.data / "networks" / "devnet"
    if not _mount_tmpfs(net, "4m"):
        need(False, "mount -t tmpfs (root)")
    obs: dict = {}
    try:
        a.start()
        assert a.post("/api/onboarding/network", {"network": "devnet"}).status == 200
        assert a.post("/api/onboarding/models", {"models": [MODEL]}).status == 200
        _fill(net)
        r = a.post("/api/onboarding/password", {"password": PW})
        obs["full"] = (r.status, r.body)
        obs["keys_after_full"] = (net / "keys").exists()
        obs["staging_after_full"] = [p.name for p in net.iterdir() if p.name.startswith(".keys-staging")]
        obs["alive_after_full"] = a.alive()
        (net / "filler").unlink()
        r = a.post("/api/onboarding/password", {"password": PW})
        obs["retry"] = (r.status, r.body)
        obs["keys_after_retry"] = (net / "keys" / "keystore.json").exists()
        yield obs
    finally:
        a.cleanup()
        _umount(net)


def test_disk_full_during_onboarding_key_creation_leaves_nothing_and_retry_works(full_disk_onboarding):
    obs = full_disk_onboarding
    status, _ = obs["full"]
    assert status >= 400, obs["full"]
    assert obs["keys_after_full"] is False and obs["staging_after_full"] == [], obs
    assert obs["alive_after_full"] is True
    status, body = obs["retry"]
    assert status == 200 and body["created"] is True, obs["retry"]
    assert obs["keys_after_retry"] is True


def test_disk_full_during_onboarding_gives_a_clear_typed_error(full_disk_onboarding):
    status, body = full_disk_onboarding["full"]
    err = body.get("error", {})
    assert status in (400, 507) and err.get("code") != "internal_error", body
    assert "space" in (err.get("message", "") + err.get("fix", "")).lower(), body
