"""Preflight checks, each BLOCK and WARN against real parts: anvil + replicas, the Secret Service keyring,
private dockerds (one stopped mid-test), real files; Ollama is the fake."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid

import pytest

from tests.conftest import need
from tests.plugins.docker import PrivateDockerd, free_port
from tray_agent.core import preflight as pf
from tray_agent.core.chain import ChainClient
from tray_agent.core.keys import KeyCustody
from tray_agent.core.keys.secrets import KeyringStore

PW = "Preflight-Check-42"
ETHER = 10**18


@pytest.fixture
def store(secret_service_keyring):
    s = KeyringStore(f"lcai-test-preflight-{uuid.uuid4().hex[:8]}")
    yield s
    with contextlib.suppress(Exception):  # KeyringStore.delete raises on a missing entry (see report)
        s.delete("keystore-password")


@pytest.fixture
def custody(paths, chain, store):
    c = KeyCustody(paths, chain.network, store)
    c.generate(PW)
    chain.dn.set_balance(c.address(), 6000 * ETHER)
    return c


def _register(chain, custody) -> None:
    from tray_agent.core.chain.ops import OpContext, register

    ctx = OpContext.for_custody(chain.network, custody, client=chain.client)
    ctx.sender.poll_s = 0.02
    register(ctx, custody.ecdh_public_key(), ["llama3-8b"])


# --- BLOCK ---------------------------------------------------------------------------------------------
def test_rpc_ok_wrong_chain_and_unreachable_block(chain):
    assert pf.check_rpc(chain.client).result == "ok"
    wrong = pf.check_rpc(ChainClient(chain.network.replace(chain_id=4242)))
    assert wrong.result == "block" and "31337" in wrong.detail and "4242" in wrong.detail and wrong.fix
    down = pf.check_rpc(ChainClient(chain.network.replace(rpc_url=f"http://127.0.0.1:{free_port()}/?key=SECRET")))
    assert down.result == "block" and "SECRET" not in down.detail


def test_wrong_keystore_password_blocks(custody, store):
    probe = pf.KeyProbe(custody)
    assert pf.check_keystore_password(custody, probe).result == "ok"
    store.set("keystore-password", "Not-The-Password-7")
    c = pf.check_keystore_password(custody, pf.KeyProbe(custody))
    assert c.result == "block" and "does not open" in c.detail and c.fix
    assert "Not-The-Password-7" not in str(c.to_dict())


def test_no_key_blocks_with_setup_fix(paths, chain, store):
    c = pf.check_keystore_password(KeyCustody(paths, chain.network, store), pf.KeyProbe(KeyCustody(paths, chain.network, store)))
    assert c.result == "block" and "setup" in c.fix


def test_key_address_mismatch_blocks(chain, custody):
    from eth_account import Account

    from tray_agent.core.keys import keystore as ks

    assert pf.check_key_address(custody, pf.KeyProbe(custody), custody.address()).result == "ok"
    other = chain.new_worker()
    c = pf.check_key_address(custody, pf.KeyProbe(custody), other.address)
    assert c.result == "block" and other.address in c.detail
    foreign = Account.create()  # a foreign keystore in the worker's key dir
    custody.keystore_path.write_text(__import__("json").dumps(ks.encrypt_keystore(bytes(foreign.key), PW, 1024)))
    assert pf.check_key_address(custody, pf.KeyProbe(custody)).result == "block"


def test_ecdh_missing_while_registered_blocks(chain, custody):
    addr = custody.address()
    assert pf.check_ecdh(custody, chain.client, addr).result == "ok"  # not registered, local key ready
    _register(chain, custody)
    ok = pf.check_ecdh(custody, chain.client, addr)
    assert ok.result == "ok" and "matches" in ok.detail
    backup = custody.ecdh_path.read_bytes()
    custody.ecdh_path.unlink()
    c = pf.check_ecdh(custody, chain.client, addr)
    assert c.result == "block" and "registered on-chain" in c.detail and "backup" in c.fix
    # a different local key than the registered one also blocks
    from tray_agent.core.keys import keystore as ks

    other, _pub = ks.create_ecdh_file(PW)
    custody.ecdh_path.write_text(__import__("json").dumps(other))
    assert pf.check_ecdh(custody, chain.client, addr).result == "block"
    custody.ecdh_path.write_bytes(backup)
    assert pf.check_ecdh(custody, chain.client, addr).result == "ok"


def test_ecdh_not_generated_and_unregistered_only_warns(chain, custody):
    custody.ecdh_path.unlink()
    assert pf.check_ecdh(custody, chain.client, custody.address()).result == "warn"


# --- WARN ----------------------------------------------------------------------------------------------
@pytest.mark.docker
def test_docker_warns_when_the_engine_stops():
    from tray_agent.core.runtime import docker_engine as de

    need(os.geteuid() == 0 and shutil.which("dockerd") is not None, "root + dockerd")
    engine = PrivateDockerd(tempfile.mkdtemp(prefix="lcai-pf-", dir="/tmp")).start()
    get = lambda: de.connect(env={"DOCKER_HOST": engine.url}, timeout=3, installed=True)[0]  # noqa: E731
    try:
        assert pf.check_docker(get).result == "ok"
        engine.stop()
        c = pf.check_docker(get)
        assert c.result == "warn" and "not running" in c.detail and c.fix
        img = pf.check_image(get, "lcai-worker-sim:devnet")
        assert img.result == "warn" and "cannot check" in img.detail
    finally:
        engine.cleanup()


@pytest.mark.docker
def test_worker_image_present_or_missing(docker_client, sim_image):
    assert pf.check_image(lambda: docker_client, sim_image).result == "ok"
    c = pf.check_image(lambda: docker_client, "lcai-test/not-pulled:0")
    assert c.result == "warn" and "not downloaded" in c.detail


def test_ollama_and_models(fake_ollama_factory):
    from tray_agent.core.runtime.ollama import OllamaManager

    fake = fake_ollama_factory(installed=["llama3:8b"])
    m = OllamaManager(fake.url)
    assert pf.check_ollama(m).result == "ok"
    assert pf.check_models(m, ["llama3:8b"]).result == "ok"
    miss = pf.check_models(m, ["llama3:8b", "gpt-oss:20b"])
    assert miss.result == "warn" and "gpt-oss:20b" in miss.detail and "ollama pull gpt-oss:20b" in miss.fix
    assert pf.check_models(m, []).result == "warn"
    fake.stop()
    assert pf.check_ollama(m).result == "warn"
    assert pf.check_models(m, ["llama3:8b"]).result == "warn"
    assert pf.check_ollama(None).result == "ok"  # devnet: the simulated worker answers


def test_disk_space(tmp_path):
    assert pf.check_disk(tmp_path, 0).result in ("ok", "warn")
    c = pf.check_disk(tmp_path, 10**16)
    assert c.result == "warn" and "GiB" in c.detail


def test_clock_skew_against_the_chain(chain):
    # the session chain is shared (earlier tests move its time): compare against a clock pinned to its head
    head = chain.now()
    assert pf.check_clock(chain.client, now=lambda: head + 5).result == "ok"
    assert pf.check_clock(chain.client, now=lambda: head + 1000).result == "warn"  # clock ahead / node lags
    assert pf.check_clock(chain.client, now=lambda: head + 1000, idle_chain=True).result == "ok"  # devnet idles
    chain.advance(3600)
    chain.mine()
    c = pf.check_clock(chain.client, now=lambda: head + 5)
    assert c.result == "warn" and "behind" in c.detail and "NTP" in c.fix
    assert pf.check_clock(chain.client, now=lambda: head + 5, idle_chain=True).result == "warn"  # chain ahead counts
    down = ChainClient(chain.network.replace(rpc_url=f"http://127.0.0.1:{free_port()}"))
    assert pf.check_clock(down).result == "warn"


def test_keep_awake_off_or_unavailable(monkeypatch):
    from tray_agent.core.runtime.keepawake import KeepAwake

    assert pf.check_keep_awake(None, enabled=False).result == "warn"
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)  # headless/SSH: no method works
    c = pf.check_keep_awake(None)
    assert c.result == "warn" and c.fix
    ka = KeepAwake()
    ka.acquire()
    try:
        assert pf.check_keep_awake(ka).result == ("ok" if ka.active else "warn")
        assert ka.held  # the check never releases the supervisor's hold
    finally:
        ka.release()


def test_autostart_off_then_on(tmp_path):
    from tray_agent.core.runtime import autostart

    c = pf.check_autostart("pftest", tmp_path)
    assert c.result == "warn" and "autostart on" in c.fix
    autostart.install("xdg", ["lcai-tray"], "pftest", tmp_path)
    assert pf.check_autostart("pftest", tmp_path).result == "ok"


# --- all together ------------------------------------------------------------------------------------------
def _run(chain, custody, tmp_path, **kw):
    return pf.run_preflight(chain=kw.pop("client", chain.client), custody=custody, docker_client=lambda: None,
                            ollama=None, data_dir=tmp_path, models=["llama3-8b"], image="lcai-worker-sim:devnet",
                            keep_awake_enabled=False, profile="pftest", autostart_home=tmp_path, **kw)


def test_run_preflight_warn_only_then_block(chain, custody, store, tmp_path):
    rep = _run(chain, custody, tmp_path)
    ids = [c["id"] for c in rep["checks"]]
    assert ids[:4] == ["rpc", "keystore_password", "key_address", "ecdh"]
    assert {"docker", "worker_image", "ollama", "models", "disk", "clock", "keep_awake", "autostart"} <= set(ids)
    assert rep["result"] == "warn" and pf.exit_code(rep) == 5 and rep["counts"]["block"] == 0
    pf.require_no_block(rep)  # warnings never stop a stake-changing step
    store.set("keystore-password", "Not-The-Password-7")
    rep = _run(chain, custody, tmp_path)
    assert rep["result"] == "block" and pf.exit_code(rep) == 1
    with pytest.raises(pf.PreflightBlocked) as e:
        pf.require_no_block(rep)
    assert e.value.code == "preflight_blocked" and "Keystore password" in e.value.message


def test_run_preflight_wrong_chain_blocks(chain, custody, tmp_path):
    rep = _run(chain, custody, tmp_path, client=ChainClient(chain.network.replace(chain_id=4242)))
    rpc = next(c for c in rep["checks"] if c["id"] == "rpc")
    assert rpc["result"] == "block" and rep["result"] == "block"


def test_a_crashing_blocking_check_blocks(chain, custody, tmp_path, monkeypatch):
    monkeypatch.setattr(pf, "check_rpc", lambda chain: 1 / 0)
    rep = _run(chain, custody, tmp_path)
    assert next(c for c in rep["checks"] if c["id"] == "rpc")["result"] == "block"


def test_deregister_is_not_blocked_by_the_lost_ecdh_key_it_repairs(chain, custody, tmp_path):
    _register(chain, custody)
    custody.ecdh_path.unlink()
    rep = _run(chain, custody, tmp_path)
    assert next(c for c in rep["checks"] if c["id"] == "ecdh")["result"] == "block"
    with pytest.raises(pf.PreflightBlocked):
        pf.require_no_block(rep, "top_up")
    pf.require_no_block(rep, "deregister")
