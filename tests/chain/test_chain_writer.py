"""The one-writer rule: every worker-key send goes through WriterGate; tested with a concurrent sender."""

from __future__ import annotations

import threading
import time

import pytest

from tray_agent.core.chain import NonceConflict, WriterBusy
from tray_agent.core.chain.ops import top_up
from tray_agent.core.chain.writer import WriterGate


class FakeContainer:
    """Simulates the worker container: sends txs from the worker key with its own local nonce counter
    (like the real worker's NonceManager) while running; pause() stops it after its in-flight tx."""

    def __init__(self, chain, w):
        self.chain, self.w = chain, w
        self.sender = chain.sender(w)
        self.running = threading.Event()
        self.idle = threading.Event()
        self.stop_all = threading.Event()
        self.sent: list[tuple[float, float]] = []  # (start, end) of each container send
        self.errors: list[str] = []
        self.active = 0
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        nonce = self.chain.client.nonce(self.w.address)
        while not self.stop_all.is_set():
            if not self.running.is_set():
                self.idle.set()
                time.sleep(0.005)
                continue
            self.idle.clear()
            if not self.running.is_set():  # paused between the check and the clear
                continue
            t0 = time.monotonic()
            try:
                h = self._raw_send(nonce)
                self.sender.wait(h, nonce, timeout_s=10)
                nonce += 1
            except NonceConflict as e:  # resync like the real worker
                self.errors.append(str(e))
                nonce = self.chain.client.nonce(self.w.address)
            self.sent.append((t0, time.monotonic()))

    def _raw_send(self, nonce, value=1):
        s = self.sender
        tx = {"chainId": 31337, "nonce": nonce, "gas": 21000, "value": value, "data": "0x", "to": self.w.address,
              **s.fees(), "type": 2}
        return s._sign_and_send(tx)

    def pause(self):
        self.running.clear()
        assert self.idle.wait(10)

    def resume(self):
        self.idle.clear()
        self.running.set()

    def start(self):
        self.resume()
        self.thread.start()
        return self

    def close(self):
        self.stop_all.set()
        self.thread.join(10)


def test_unguarded_send_is_refused(chain):
    w = chain.new_worker()
    ctx = chain.ctx(w)
    with pytest.raises(RuntimeError, match="WriterGate"):
        ctx.sender.send(w.address, "0x", 1)


def test_stop_mode_pauses_container_while_sending(chain):
    w = chain.new_worker()
    chain.register(w)
    box = FakeContainer(chain, w).start()
    time.sleep(0.2)
    windows = []
    gate = WriterGate(active_jobs=lambda: 0, pause_worker=box.pause, resume_worker=box.resume, max_retries=0)

    def op():
        with gate.session():
            t0 = time.monotonic()
            for _ in range(5):
                gate.send(lambda: chain.ctx(w, gate).sender.send(w.address, "0x", 2, gas=21000))
            windows.append((t0, time.monotonic()))

    try:
        op()
        op()
        time.sleep(0.2)
    finally:
        box.close()
    assert box.running.is_set()  # resumed
    assert len(box.sent) > 2
    for a, b in windows:  # no container send overlapped an app session
        assert not any(s < b and e > a for s, e in box.sent)
    assert gate.retries == 0


def test_stop_mode_waits_for_active_jobs_and_always_resumes(chain):
    w = chain.new_worker()
    calls = []
    jobs = {"n": 2}

    def active():
        calls.append("poll")
        jobs["n"] = max(0, jobs["n"] - 1)
        return jobs["n"] + 1 if len(calls) < 3 else 0

    gate = WriterGate(active_jobs=active, pause_worker=lambda: calls.append("pause"),
                      resume_worker=lambda: calls.append("resume"), poll_s=0.01)
    with pytest.raises(ValueError):
        with gate.session():
            raise ValueError("boom")
    assert calls.index("pause") > calls.index("poll") and calls[-1] == "resume"
    busy = WriterGate(active_jobs=lambda: 1, pause_worker=lambda: calls.append("never"), idle_timeout_s=0.1,
                      poll_s=0.02)
    with pytest.raises(WriterBusy):
        with busy.session():
            pass
    assert "never" not in calls
    assert not chain.ctx(w, gate).gate.held()


def test_idle_mode_with_concurrent_sender_retries(chain):
    """User refused a stop: the app sends while the container keeps sending; conflicts are retried."""
    w = chain.new_worker()
    chain.register(w)
    box = FakeContainer(chain, w).start()
    gate = WriterGate(active_jobs=lambda: 0, stop_allowed=False, retry_delay_s=0.01, max_retries=50, poll_s=0.01)
    ctx = chain.ctx(w, gate)
    # Make the race certain instead of likely: on the app's first 3 sends the container sends (and mines) a tx
    # with the very nonce the app just read, between the app's nonce read and its broadcast.
    client, real_nonce = ctx.sender.client, ctx.sender.client.nonce
    stolen: list[int] = []

    def racing_nonce(address, block="pending"):
        n = real_nonce(address, block)
        if len(stolen) < 3:
            box.sender.wait(box._raw_send(n, value=7), n, timeout_s=10)  # not byte-equal to the box's own txs
            stolen.append(n)
        return n

    client.nonce = racing_nonce
    conflicts: list[str] = []

    def app_send():
        try:
            return ctx.sender.send(w.address, "0x", 3, gas=21000)
        except NonceConflict as e:
            conflicts.append(str(e))
            raise

    results = []
    try:
        with gate.session():
            for _ in range(10):
                results.append(gate.send(app_send))
    finally:
        box.close()
        del client.nonce
    assert len(results) == 10 and all(r.block_number > 0 for r in results)
    assert len({r.nonce for r in results}) == 10
    # the conflicts happened, each was retried by the gate with a fresh nonce, and none of the app's
    # transactions used a nonce the container had taken
    assert len(stolen) == 3 and len(conflicts) >= 3, (stolen, conflicts)
    assert gate.retries == len(conflicts)
    assert not {r.nonce for r in results} & set(stolen)
    assert len(box.sent) > 0
    assert chain.client.nonce(w.address, "latest") >= 10 + 3 + len(box.sent) - len(box.errors)


def test_idle_mode_waits_until_idle_before_each_send(chain):
    w = chain.new_worker()
    chain.register(w)
    state = {"active": 1}
    threading.Timer(0.3, lambda: state.update(active=0)).start()
    gate = WriterGate(active_jobs=lambda: state["active"], stop_allowed=False, poll_s=0.02)
    t0 = time.monotonic()
    res = top_up(chain.ctx(w, gate), "1")
    assert time.monotonic() - t0 >= 0.25 and res.stake_wei == 5001 * 10**18


def test_two_app_threads_are_serialised(chain):
    w = chain.new_worker()
    chain.register(w)
    gate = WriterGate()
    errors = []

    def worker():
        try:
            top_up(chain.ctx(w, gate), "1")
        except Exception as e:  # pragma: no cover - the assertion below reports it
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == [] and chain.view(chain.reg, "getWorkerStake", w.address) == 5004 * 10**18


def test_address_already_reserved_is_retried(chain, monkeypatch):
    """geth's blob-subpool error (anvil cannot produce it): mocked on the first raw send, then retried."""
    from tray_agent.core.chain.rpc import classify_error

    w = chain.new_worker()
    chain.register(w)
    gate = WriterGate(stop_allowed=False, retry_delay_s=0.01, poll_s=0.01)
    ctx = chain.ctx(w, gate)
    real = ctx.client.rpc.call
    hits = {"n": 0}

    def flaky(method, params=()):
        if method == "eth_sendRawTransaction" and hits["n"] == 0:
            hits["n"] += 1
            raise classify_error({"code": -32000, "message": "address already reserved"}, method)
        return real(method, params)

    monkeypatch.setattr(ctx.client.rpc, "call", flaky)
    res = top_up(ctx, "2")
    assert hits["n"] == 1 and gate.retries == 1 and res.stake_wei == 5002 * 10**18
