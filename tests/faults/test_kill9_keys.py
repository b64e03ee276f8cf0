"""kill -9 between the keychain write and the key files, with the real Secret Service (gnome-keyring over D-Bus in
the session scripts/test.sh starts; never the secrets file), for every operation that moves a worker key:
onboarding's key creation, remove_worker, recover, replace_key, import_keys (adopt_foreign imports through the same
import_toolkit step).

Per point: the active key (if any) still opens with the keychain's password, no key is lost (every archived key
opens with its archive password), the operation reads ``interrupted`` with a fix, and a rerun finishes it (or says
exactly what is left to do). Rows go to test-output/kill9-keys-matrix.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from eth_account import Account

from tests.faults.harness import MODEL, PASSWORD, AgentProc
from tests.faults.killpoints import after_relaunch, relaunch, write_matrix

pytestmark = [pytest.mark.docker]
TOOLKIT_PW = "0123456789abcdef0123456789abcdef0123456789abcdef"  # openssl rand -hex 24, as the toolkit docs do
MATRIX: list[dict] = []


def note(point: str, kind: str, **outcome) -> None:
    MATRIX.append({"point": point, "op": kind, **outcome})


@pytest.fixture(scope="module", autouse=True)
def _matrix(output_dir):
    yield
    write_matrix(output_dir / "kill9-keys-matrix.md", MATRIX)


def _custody(a: AgentProc):
    """The agent's key custody, opened from this test process (same D-Bus session, same keychain)."""
    from tray_agent.common.paths import Paths
    from tray_agent.core.keys import KeyCustody, open_secret_store
    from tray_agent.core.networks import get_network

    old = os.environ.get("LCAI_TRAY_HOME")
    os.environ["LCAI_TRAY_HOME"] = str(a.home)
    try:
        paths = Paths.for_profile(a.profile)
        return KeyCustody(paths, get_network("devnet"), open_secret_store(paths.keyring_service("devnet")))
    finally:
        if old is None:
            os.environ.pop("LCAI_TRAY_HOME", None)
        else:
            os.environ["LCAI_TRAY_HOME"] = old


def test_kill9_between_keychain_and_keystore(agent_factory):
    """custody.install / archive / restore killed after the keychain write, before the key files move."""
    need_keyring()
    a = agent_factory("kkeys", keyring=True).start()
    assert a.post("/api/onboarding/network", {"network": "devnet"}).status == 200
    assert a.post("/api/onboarding/models", {"models": [MODEL]}).status == 200

    # 1. install: the password is in the keychain, no keystore yet
    relaunch(a, "custody.install.after_keychain=kill")
    try:
        a.post("/api/onboarding/password", {"password": PASSWORD}, timeout=30)
    except Exception:
        pass
    assert a.proc.wait(30) == -9 and "failpoint custody.install.after_keychain: kill" in a.new_log()
    relaunch(a, None)
    assert not a.status()["address"] and a.status()["state"] == "setup_needed"
    r = a.post("/api/onboarding/password", {"password": "Another-Password-2"})
    assert r.status == 200, r.body
    key_a = a.status()["address"]
    assert _custody(a).verify() == key_a, "the keystore does not open with the keychain's password"
    # the password lives in gnome-keyring over D-Bus (the agent has no secrets file)
    kr = _custody(a).secrets._kr
    backends = [type(b).__module__ for b in getattr(kr, "backends", [kr])]
    assert backends[0] == "keyring.backends.SecretService" and a.secrets_file is None, backends  # first: it stores
    assert not list(Path(a.home).rglob("secrets*.json")), "a secrets file was written"
    note("custody.install.after_keychain=kill", "onboarding (key)", sent="-", after="no key, setup needed",
         rerun="new key; keychain password opens it", funds="no key lost (none existed)")

    # 2. archive (remove_worker): archive password written, key not moved
    relaunch(a, "custody.archive.after_keychain=kill")
    r = a.post("/api/ops/remove_worker", {"confirm": True})
    assert r.status == 202, r.body
    op_id = r.body["op_id"]
    assert a.proc.wait(60) == -9 and "failpoint custody.archive.after_keychain: kill" in a.new_log()
    rec = after_relaunch(a, op_id)
    assert a.status()["address"] == key_a and _custody(a).verify() == key_a, "the active key survives intact"
    assert rec["kind"] == "remove_worker"
    rerun = a.op("remove_worker", {"confirm": True}, timeout=60)
    assert rerun["state"] == "done", rerun
    arch = _custody(a).list_archive(check_staked=False)
    assert [e.address for e in arch] == [key_a], arch
    note("custody.archive.after_keychain=kill", "remove_worker", sent="-", after="interrupted; key still active, opens",
         rerun="archived once", funds="key kept")

    # 3. restore (recover): a second key B, then recover A, killed after the keychain write
    assert a.post("/api/onboarding/password", {"password": "Third-Password-33"}).status == 200
    key_b = a.status()["address"]
    assert key_b and key_b != key_a
    relaunch(a, "custody.restore.after_keychain=kill")
    r = a.post("/api/ops/recover", {"id": arch[0].id})
    assert r.status == 202, r.body
    op_id = r.body["op_id"]
    assert a.proc.wait(60) == -9 and "failpoint custody.restore.after_keychain: kill" in a.new_log()
    after_relaunch(a, op_id)
    c = _custody(a)
    ids = {e.address: e.id for e in c.list_archive(check_staked=False)}
    assert set(ids) == {key_a, key_b}, f"a key went missing: {ids}"
    rerun = a.op("recover", {"id": ids[key_a]}, timeout=60)
    assert rerun["state"] == "done", rerun
    assert a.status()["address"] == key_a and _custody(a).verify() == key_a
    assert [e.address for e in _custody(a).list_archive(check_staked=False)] == [key_b]
    note("custody.restore.after_keychain=kill", "recover", sent="-", after="interrupted; no active key, both keys in "
         "the archive", rerun="key A active and opens; B recoverable", funds="no key lost")


def need_keyring() -> None:
    from tests.conftest import need

    need(bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS")), "a D-Bus session with gnome-keyring")


def kill_op(a: AgentProc, kind: str, body: dict, point: str) -> str:
    """Relaunch with ``point`` set to kill, start ``kind``, and see the agent die there (its log names the point)."""
    relaunch(a, f"{point}=kill")
    assert f"failpoints active: {point}" in a.new_log()
    r = a.post(f"/api/ops/{kind}", body)
    assert r.status == 202, r.body
    op_id = r.body["op_id"]
    assert a.proc.wait(60) == -9, a.tail()
    assert f"failpoint {point}: kill" in a.new_log(), a.tail()
    return op_id


def archived_keys_open(a: AgentProc) -> set[str]:
    """Addresses of the archive; each entry's keystore must open with its archive password from the keychain."""
    from tray_agent.core.keys import keystore as ks

    c = _custody(a)
    out = set()
    for e in c.list_archive(check_staked=False):
        pw = c.secrets.get(f"archive:{e.id}")
        assert pw is not None, f"no keychain password for the archived key {e.address}"
        data = ks.parse_keystore((c.paths.archive_dir("devnet") / e.id / "keystore.json").read_bytes())
        assert Account.from_key(ks.decrypt_keystore(data, pw)).address == e.address
        out.add(e.address)
    return out


def toolkit_worker(folder) -> tuple[str, bytes]:
    """A worker folder as the official toolkit writes it (keystore.json + encryption.key); (address, ECDH pub)."""
    from tray_agent.core.keys import keystore as ks

    acct = Account.create()
    folder.mkdir(parents=True)
    (folder / "keystore.json").write_text(json.dumps(ks.encrypt_keystore(bytes(acct.key), TOOLKIT_PW, 1024)))
    ecdh, pub = ks.create_ecdh_file(TOOLKIT_PW)
    (folder / "encryption.key").write_text(json.dumps(ecdh))
    return acct.address, pub


def test_kill9_replace_key_and_import_keys(agent_factory, tmp_path):
    """replace_key killed after the archive's keychain write and after the new key's; import_keys killed after the
    imported key's password reached the keychain."""
    need_keyring()
    a = agent_factory("krepl", keyring=True).start()
    assert a.post("/api/onboarding/network", {"network": "devnet"}).status == 200
    assert a.post("/api/onboarding/models", {"models": [MODEL]}).status == 200
    assert a.post("/api/onboarding/password", {"password": PASSWORD}).status == 200
    key_a = a.status()["address"]

    # 1. replace_key, killed between the archive password write and the move of the key folder
    op_id = kill_op(a, "replace_key", {"confirm": True}, "custody.archive.after_keychain")
    after_relaunch(a, op_id)
    assert a.status()["address"] == key_a and _custody(a).verify() == key_a, "the active key survives intact"
    rerun = a.op("replace_key", {"confirm": True}, timeout=60)
    assert rerun["state"] == "done", rerun
    key_b = rerun["result"]["address"]
    assert key_b != key_a and a.status()["address"] == key_b and _custody(a).verify() == key_b
    assert archived_keys_open(a) == {key_a}, "the old key is archived exactly once and opens"
    note("custody.archive.after_keychain=kill", "replace_key", sent="-", after="interrupted + fix; old key still "
         "active and opens", rerun="archives it once, new key active", funds="key kept")

    # 2. replace_key, killed after the new key's password is in the keychain, before its keystore is written
    op_id = kill_op(a, "replace_key", {"confirm": True}, "custody.install.after_keychain")
    after_relaunch(a, op_id)
    st = a.status()
    assert not st["address"] and st["state"] == "setup_needed", st  # the half-made new key is not there
    assert archived_keys_open(a) == {key_a, key_b}, "an archived key went missing or does not open"
    rerun = a.op("replace_key", {"confirm": True}, timeout=60)  # the archive half is done: nothing left to replace
    assert rerun["state"] == "failed" and rerun["error"]["code"] == "no_key", rerun
    assert "onboarding" in rerun["error"]["fix"], rerun["error"]
    assert a.post("/api/onboarding/password", {"password": "Another-Password-2"}).status == 200  # the other half
    key_c = a.status()["address"]
    assert key_c not in (key_a, key_b) and _custody(a).verify() == key_c
    note("custody.install.after_keychain=kill", "replace_key", sent="-", after="interrupted + fix; old key archived "
         "(opens), no active key: setup needed", rerun="replace_key: 'no key to replace — create one in onboarding'; "
         "onboarding makes the new key", funds="no key lost")

    # 3. import_keys (replacing the active key), killed after the imported key's password is in the keychain
    src = tmp_path / "toolkit-worker"
    key_d, pub = toolkit_worker(src)
    files = {p.name: p.read_bytes() for p in src.iterdir()}
    body = {"path": str(src), "password": TOOLKIT_PW, "replace_active": True}
    op_id = kill_op(a, "import_keys", body, "custody.install.after_keychain")
    after_relaunch(a, op_id)
    assert not a.status()["address"], a.status()
    assert archived_keys_open(a) == {key_a, key_b, key_c}, "the replaced key was not kept"
    assert {p.name: p.read_bytes() for p in src.iterdir()} == files, "the import source was changed"
    rerun = a.op("import_keys", body, timeout=60)
    assert rerun["state"] == "done" and rerun["result"]["address"] == key_d, rerun
    c = _custody(a)
    assert c.verify() == key_d and c.ecdh_public_key() == pub, "the imported worker keeps its encryption key"
    assert archived_keys_open(a) == {key_a, key_b, key_c}
    note("custody.install.after_keychain=kill", "import_keys (adopt_foreign)", sent="-",
         after="interrupted + fix; active key archived (opens), source folder unchanged", rerun="imports it; "
         "keystore + its own encryption key open", funds="no key lost")
