"""Lesson 19: before every signature the key about to sign must belong to the worker the operation targets.

Real parts: anvil with the replicas, real V3 keystores, the Secret Service keyring of scripts/test.sh."""

from __future__ import annotations

import json
import uuid

import pytest
from eth_account import Account

from tray_agent.core.chain.ops import OpContext, register
from tray_agent.core.chain.tx import SignerMismatch
from tray_agent.core.keys import KeyCustody
from tray_agent.core.keys import keystore as ks
from tray_agent.core.keys.secrets import KeyringStore

PW = "Signer-Check-42"
ETHER = 10**18


@pytest.fixture
def custody(paths, chain, secret_service_keyring):
    store = KeyringStore(f"lcai-test-signer-{uuid.uuid4().hex[:8]}")
    c = KeyCustody(paths, chain.network, store)
    c.generate(PW)
    chain.dn.set_balance(c.address(), 6000 * ETHER)
    yield c
    store.delete("keystore-password")


def _nonce(chain, addr: str) -> int:
    return chain.client.nonce(addr, "pending")


def test_sender_refuses_a_key_of_another_worker(chain):
    from tray_agent.core.chain.tx import TxSender

    w, other = chain.new_worker(), chain.new_worker()
    sender = TxSender(chain.client, w.key, expected_address=other.address)
    with pytest.raises(SignerMismatch) as e:
        sender.send(w.address, "0x", 1, gas=21000)
    assert e.value.code == "key_mismatch"
    assert w.address in e.value.message and other.address in e.value.message and "nothing was signed" in e.value.message
    assert _nonce(chain, w.address) == 0


def test_create_refuses_a_mismatched_worker_address(chain):
    w, other = chain.new_worker(), chain.new_worker()
    with pytest.raises(SignerMismatch):
        OpContext.create(chain.network, w.key, client=chain.client, worker_address=other.address)


def test_foreign_keystore_on_disk_is_refused_before_register(chain, custody):
    """A keystore of another key lands in the worker's key dir (re-run meets a foreign keystore): refuse."""
    worker = custody.address()
    foreign = Account.create()
    chain.dn.set_balance(foreign.address, 6000 * ETHER)
    custody.keystore_path.write_text(json.dumps(ks.encrypt_keystore(bytes(foreign.key), PW, chain.network.scrypt_n)))
    assert custody.address() == foreign.address  # the file itself is consistent; key-meta says the worker

    with pytest.raises(SignerMismatch) as e:
        OpContext.for_custody(chain.network, custody, client=chain.client)
    assert e.value.code == "key_mismatch" and worker in e.value.message
    assert _nonce(chain, foreign.address) == 0
    assert not chain.view(chain.reg, "isWorkerRegistered", foreign.address)


def test_target_address_differs_from_keystore(chain, custody):
    """The agent targets worker A (status, registration), the keystore holds key B: nothing is signed."""
    other = chain.new_worker()
    with pytest.raises(SignerMismatch):
        OpContext.for_custody(chain.network, custody, target=other.address, client=chain.client)
    assert _nonce(chain, custody.address()) == 0


def test_tampered_address_field_is_refused(chain, custody):
    data = json.loads(custody.keystore_path.read_text())
    data["address"] = Account.create().address[2:].lower()
    custody.keystore_path.write_text(json.dumps(data))
    with pytest.raises(SignerMismatch):
        OpContext.for_custody(chain.network, custody, client=chain.client)


def test_matching_key_signs_and_registers(chain, custody):
    addr = custody.address()
    ctx = OpContext.for_custody(chain.network, custody, target=addr.lower(), client=chain.client)
    ctx.sender.poll_s = 0.02
    assert ctx.sender.expected_address == addr
    register(ctx, custody.ecdh_public_key(), ["llama3-8b"])
    assert chain.view(chain.reg, "isWorkerRegistered", addr)
