"""The fault-point module: grammar, inertness and cost, counts, scopes, kill of the real process, and that every
registered point is placed in the product (and fires where its description says, against anvil)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tray_agent.core import failpoints as fp

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _reset():
    fp.configure(None)
    yield
    fp.configure(None)


def test_parse_grammar():
    got = fp.parse("a=kill; b = 2*off->sleep(15)->raise(boom) ;c=print")
    assert [(t.action, t.arg, t.count) for t in got["a"]] == [("kill", None, None)]
    assert [(t.action, t.arg, t.count) for t in got["b"]] == [("off", None, 2), ("sleep", "15", None),
                                                            ("raise", "boom", None)]
    assert [t.action for t in got["c"]] == ["print"]
    assert fp.parse("") == {} and fp.parse(" ; ") == {}


@pytest.mark.parametrize("bad", ["a", "a=", "=kill", "a=explode", "a=sleep", "a=sleep(x)", "a=kill(3)",
                                 "a=kill->", "a=2*", "a=*kill"])
def test_parse_rejects_malformed(bad):
    with pytest.raises(ValueError):
        fp.parse(bad)


def test_configure_rejects_unknown_names_and_scopes():
    with pytest.raises(ValueError, match="unknown fault point"):
        fp.configure("settle.between_batchez=kill")  # a typo must not silently never fire
    with pytest.raises(ValueError, match="unknown fault point"):
        fp.configure("nosuchop/tx.after_broadcast=kill")
    with pytest.raises(ValueError):
        fp.scoped("nosuchop")
    fp.configure("withdraw/tx.after_broadcast=raise")
    assert fp.active() == {"withdraw/tx.after_broadcast": 0}


def test_inert_by_default_and_near_zero_cost():
    assert fp.active() == {}
    fp.hit("tx.after_broadcast")  # nothing happens
    n = 200_000
    t0 = time.perf_counter()
    for _ in range(n):
        fp.hit("tx.after_broadcast")
    per_hit = (time.perf_counter() - t0) / n
    # one dict truth test: well under a microsecond even on a loaded 2-core runner (a send takes milliseconds)
    assert per_hit < 2e-6, f"inert fault point costs {per_hit * 1e9:.0f} ns"
    # configured, but another name: still cheap, still nothing
    fp.configure("settle.before_withdraw=raise")
    fp.hit("tx.after_broadcast")


def test_raise_sleep_print_and_counts(capfd):
    fp.configure("settle.before_withdraw=2*off->1*raise(stop here)->sleep(60)")
    fp.hit("settle.before_withdraw")
    fp.hit("settle.before_withdraw")  # two "off" hits
    with pytest.raises(fp.FailpointError, match="stop here") as ei:
        fp.hit("settle.before_withdraw")
    assert ei.value.code == "failpoint" and ei.value.fix
    t0 = time.monotonic()
    fp.hit("settle.before_withdraw")  # sleep from now on, every hit
    fp.hit("settle.before_withdraw")
    assert time.monotonic() - t0 >= 0.12
    assert fp.active() == {"settle.before_withdraw": 5}
    err = capfd.readouterr().err
    assert "failpoint settle.before_withdraw: raise(stop here) (hit 3)" in err
    assert "failpoint settle.before_withdraw: sleep(60) (hit 5)" in err
    assert "hit 1" not in err  # "off" hits are silent


def test_count_runs_out_then_inert():
    fp.configure("tx.before_broadcast=1*raise")
    with pytest.raises(fp.FailpointError):
        fp.hit("tx.before_broadcast")
    fp.hit("tx.before_broadcast")
    fp.hit("tx.before_broadcast")


def test_scopes_match_only_inside_and_nest():
    fp.configure("withdraw/tx.after_broadcast=raise(in withdraw);settle/settle.before_withdraw=raise(in settle)")
    fp.hit("tx.after_broadcast")  # outside any scope: the onboarding send, the devnet funding

    @fp.scoped("withdraw")
    def send():
        fp.hit("tx.after_broadcast")

    @fp.scoped("deregister")
    def outer():
        inner()

    @fp.scoped("settle")
    def inner():
        fp.hit("settle.before_withdraw")

    with pytest.raises(fp.FailpointError, match="in withdraw"):
        send()
    with pytest.raises(fp.FailpointError, match="in settle"):
        outer()  # settle inside deregister: the inner scope matches
    fp.hit("tx.after_broadcast")  # the scope ended with the function (also when it raised)
    fp.hit("settle.before_withdraw")


def test_scope_is_per_thread():
    import threading

    fp.configure("withdraw/tx.after_broadcast=raise")
    seen: list[str] = []
    started, release = threading.Event(), threading.Event()

    @fp.scoped("withdraw")
    def holder():
        started.set()
        release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    started.wait(5)
    try:
        fp.hit("tx.after_broadcast")  # another thread is inside "withdraw"; this one is not
        seen.append("ok")
    finally:
        release.set()
        t.join(5)
    assert seen == ["ok"]


def _py(code: str, spec: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, LCAI_FAILPOINTS=spec, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=str(ROOT))


def test_kill_sigkills_the_process_after_saying_where():
    r = _py("from tray_agent.core import failpoints as f\nprint('before', flush=True)\n"
            "f.hit('settle.between_batches')\nprint('survived', flush=True)", "settle.between_batches=kill")
    assert r.returncode == -signal.SIGKILL, (r.returncode, r.stdout, r.stderr)
    assert "before" in r.stdout and "survived" not in r.stdout
    assert "failpoint settle.between_batches: kill (hit 1)" in r.stderr


def test_env_spec_is_not_inherited_by_children():
    code = ("import os, subprocess, sys\nfrom tray_agent.core import failpoints as f\n"
            "print(sorted(f.active()))\n"
            "print(subprocess.run([sys.executable, '-c', 'import os; print(os.environ.get(\"LCAI_FAILPOINTS\"))'],"
            " capture_output=True, text=True).stdout.strip())")
    r = _py(code, "tx.after_broadcast=kill")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["['tx.after_broadcast']", "None"]
    assert "failpoints active: tx.after_broadcast" in r.stderr


def test_malformed_env_spec_fails_the_start():
    r = _py("from tray_agent.core import failpoints", "settle.between_batches=explode")
    assert r.returncode != 0 and "unknown action" in r.stderr


def test_every_registered_point_is_placed_once_and_every_placed_point_registered():
    src = "\n".join(p.read_text() for p in (ROOT / "tray_agent").rglob("*.py") if p.name != "failpoints.py")
    placed = re.findall(r'failpoints\.hit\("([^"]+)"\)', src)
    assert sorted(set(placed)) == sorted(fp.POINTS), "fault points placed and registered differ"
    assert len(placed) == len(set(placed)), "a point name is placed twice"
    scopes = set(re.findall(r'failpoints\.scoped\("([^"]+)"\)', src))
    assert scopes == set(fp.SCOPES), scopes


# --- against the real chain: the points sit where their description says ------------------------------------
def test_tx_points_straddle_the_broadcast(chain):
    """before_broadcast: nothing reached the chain; after_broadcast: the transaction is on-chain, the receipt unread."""
    w = chain.new_worker(10)
    s = chain.sender(w)
    dead = "0x000000000000000000000000000000000000dEaD"
    n0, b0 = chain.client.nonce(w.address, "latest"), chain.client.balance(dead)
    announced: list[tuple[str, int]] = []
    fp.configure("tx.before_broadcast=1*raise")
    with pytest.raises(fp.FailpointError):
        s.send(dead, value=12345, gas=21000, on_signed=lambda h, n: announced.append((h, n)))
    assert chain.client.nonce(w.address, "pending") == n0 and chain.client.balance(dead) == b0
    assert announced[0][1] == n0 and chain.client.rpc.call("eth_getTransactionByHash", [announced[0][0]]) is None
    fp.configure("tx.after_broadcast=1*raise")
    with pytest.raises(fp.FailpointError):
        s.send(dead, value=12345, gas=21000, on_signed=lambda h, n: announced.append((h, n)))
    # anvil automines, but under load the block may follow the broadcast by a moment: wait for it, then count
    deadline = time.monotonic() + 30
    while chain.client.nonce(w.address, "pending") != chain.client.nonce(w.address, "latest"):
        assert time.monotonic() < deadline, "the broadcast transaction was never mined"
        time.sleep(0.1)
    assert chain.client.nonce(w.address, "latest") == n0 + 1  # sent exactly once
    assert chain.client.balance(dead) == b0 + 12345
    # the hash announced before the broadcast is the transaction that was mined (write-ahead record)
    rcpt = chain.client.rpc.call("eth_getTransactionReceipt", [announced[1][0]])
    assert announced[1][1] == n0 and rcpt and int(rcpt["status"], 16) == 1


def test_settle_points_between_batches_and_before_withdraw(chain, tmp_path):
    from tray_agent.core.chain.jobs import COMPLETED, RELEASED
    from tray_agent.core.chain.ops import settle

    w = chain.new_worker()
    chain.register(w)
    ids = chain.completed_jobs(w, 30)
    chain.advance(61)
    fp.configure("settle.between_batches=1*raise")
    with pytest.raises(fp.FailpointError):
        settle(chain.ctx(w), tmp_path / "c.json", batch_size=10)
    states = [chain.job(j)["state"] for j in ids]
    assert states == [RELEASED] * 10 + [COMPLETED] * 20, "exactly the first batch is released when the point fires"
    bal = int(chain.view(chain.jr, "workerBalance", w.address))
    assert bal == chain.fee() * 8000 // 10000 * 10
    fp.configure("settle.before_withdraw=1*raise")
    with pytest.raises(fp.FailpointError):
        settle(chain.ctx(w), tmp_path / "c.json", batch_size=10)
    assert all(chain.job(j)["state"] == RELEASED for j in ids)
    assert int(chain.view(chain.jr, "workerBalance", w.address)) == chain.fee() * 8000 // 10000 * 30  # not withdrawn
    fp.configure(None)
    res = settle(chain.ctx(w), tmp_path / "c.json", batch_size=10)
    assert res.released_count == 0 and res.withdrawn_wei == chain.fee() * 8000 // 10000 * 30


def test_custody_point_sits_between_keychain_and_keystore(secret_service_keyring, tmp_path, monkeypatch):
    """With the real Secret Service: when the point fires the password is in the keychain and no keystore exists;
    the next attempt installs a key whose keystore opens with the keychain's password."""
    from tray_agent.common.paths import Paths
    from tray_agent.core.keys import KeyCustody
    from tray_agent.core.keys.custody import ACTIVE_PW
    from tray_agent.core.keys.secrets import KeyringStore
    from tray_agent.core.networks import get_network

    monkeypatch.setenv("LCAI_TRAY_HOME", str(tmp_path / "home"))
    paths = Paths.for_profile(f"fp{os.getpid()}").ensure()
    store = KeyringStore(f"lcai-failpoint-test-{os.getpid()}-{time.time_ns()}")
    cust = KeyCustody(paths, get_network("devnet"), store)
    try:
        fp.configure("custody.install.after_keychain=1*raise")
        with pytest.raises(fp.FailpointError):
            cust.generate("First-Password-1")
        assert store.get(ACTIVE_PW) == "First-Password-1" and not cust.has_key()
        addr = cust.generate("Second-Password-2")
        assert store.get(ACTIVE_PW) == "Second-Password-2" and cust.verify() == addr
    finally:
        for name in (ACTIVE_PW,):
            store.delete(name)


def test_gated_send_waits_for_a_pending_tx_a_killed_agent_left(chain):
    """A kill right after a broadcast on a real chain leaves the transaction pending. The rerun (worker stopped by
    the gate) must wait for it instead of sending on top of it with the next nonce."""
    import threading

    w = chain.new_worker(10)
    dead = "0x000000000000000000000000000000000000dEaD"
    chain.dn.rpc("anvil_setAutomine", [False])
    left = chain.sender(w).send(dead, value=1, gas=21000, wait=False)  # the killed agent's transfer, in the pool
    ctx = chain.ctx(w)
    out: dict = {}

    def rerun():
        try:
            with ctx.gate.session():
                out["res"] = ctx.sender.send(dead, value=2, gas=21000)
        except Exception as e:  # surfaced below
            out["err"] = e

    t = threading.Thread(target=rerun)
    t.start()
    time.sleep(1.0)
    latest, pending = ctx.sender.pending_gap()
    assert (latest, pending) == (0, 1), "the rerun broadcast on top of the pending transaction"
    chain.dn.rpc("anvil_setAutomine", [True])
    chain.mine()  # the pending transfer is mined; the rerun goes on
    t.join(30)
    assert "err" not in out, out
    assert out["res"].nonce == 1 and chain.client.rpc.call("eth_getTransactionReceipt", [left])["status"] == "0x1"
