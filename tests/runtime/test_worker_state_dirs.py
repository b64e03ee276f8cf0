"""State per worker, not per network (toolkit.md §5.7): replace key / restore an archived key select that worker's
own session store, release state and sortition cursors, so the strict worker never meets another worker's
release store (§5.5 ``release store identity mismatch`` is fatal)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.fakes.secrets import MemSecrets
from tests.plugins.docker import free_port
from tests.runtime.conftest import wait_for
from tray_agent.core.networks import get_network
from tray_agent.core.runtime import metrics
from tray_agent.core.runtime import worker_container as wc

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PW = "state-dirs-password-0123"




@pytest.fixture
def custody(paths):
    from tray_agent.core.keys import KeyCustody

    net = get_network("devnet").replace(scrypt_n=1024)
    return KeyCustody(paths, net, MemSecrets())


def host_env(spec: wc.WorkerSpec) -> dict[str, str]:
    """The container env with its in-container paths mapped to the host dirs (the sim worker as a host process)."""
    env = {}
    for k, v in spec.env().items():
        env[k] = v.replace(wc.KEY_DIR_IN, str(spec.key_dir)).replace(wc.STATE_DIR_IN, str(spec.state_dir))
    env.pop("RPC_URL", None)  # no chain here: the release store is opened before the chain is dialled
    return {**env, "PATH": os.environ.get("PATH", ""), "PYTHONPATH": ROOT, "OLLAMA_URL": "http://127.0.0.1:1"}


def run_worker(spec: wc.WorkerSpec) -> tuple[int, str]:
    spec.prepare_dirs()
    p = subprocess.Popen([sys.executable, "-m", "tray_agent.devnet.sim_worker"], env=host_env(spec), cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = spec.metrics_url
        wait_for(lambda: p.poll() is not None or metrics.fetch_metrics(base, 1)[0], 30, 0.1, "healthz or exit")
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate(timeout=10)
    return p.returncode, err


def spec(paths, custody, *, per_worker: bool = True) -> wc.WorkerSpec:
    addr = custody.address()
    kw = {"address": addr} if per_worker else {}
    return wc.WorkerSpec.build(paths, custody.network, ["llama3-8b"], custody.password(),
                               metrics_port=free_port(), **kw)


def test_each_worker_has_its_own_state_dir(paths):
    net = get_network("testnet")
    a, b = "0x" + "a1" * 20, "0x" + "B2" * 20
    sa = wc.WorkerSpec.build(paths, net, ["llama3-8b"], PW, address=a)
    sb = wc.WorkerSpec.build(paths, net, ["llama3-8b"], PW, address=b)
    assert sa.state_dir != sb.state_dir and sa.key_dir == sb.key_dir
    assert sa.state_dir == paths.network_dir("testnet") / "workers" / a / "state"
    assert sb.state_dir == paths.worker_state_dir("testnet", b.lower())
    assert wc.WorkerSpec.build(paths, get_network("mainnet"), ["llama3-8b"], PW, address=a).state_dir != sa.state_dir
    assert sa.config_hash() != sb.config_hash()  # another worker = another container
    binds = sa.create_kwargs()["volumes"]
    assert binds[str(sa.state_dir)]["bind"] == wc.STATE_DIR_IN
    assert sa.env()["RELEASE_STATE_PATH"].startswith(wc.STATE_DIR_IN)
    with pytest.raises(Exception, match="not a worker address"):
        paths.worker_dir("testnet", "nope")


def test_replace_and_restore_never_hit_an_identity_mismatch(paths, custody):
    a = custody.generate(PW)
    code, err = run_worker(spec(paths, custody))
    assert code == 0, err
    a_state = paths.worker_state_dir("devnet", a) / "release_state.json"
    assert json.loads(a_state.read_text())["worker_address"].lower() == a.lower()

    b = custody.replace("replaced in test", PW)  # replace key → B online with B's own state
    code, err = run_worker(spec(paths, custody))
    assert code == 0 and "identity mismatch" not in err, err
    b_state = paths.worker_state_dir("devnet", b) / "release_state.json"
    assert json.loads(b_state.read_text())["worker_address"].lower() == b.lower()

    entry = next(e for e in custody.list_archive(check_staked=False) if e.address == a)
    assert custody.restore(entry.id) == a  # recover A → A online with A's release state
    before = a_state.read_text()
    code, err = run_worker(spec(paths, custody))
    assert code == 0 and "identity mismatch" not in err, err
    assert a_state.read_text() == before


def test_one_state_dir_per_network_is_what_crashed(paths, custody):
    """The older layout (one state dir per network) makes the strict worker refuse the next key."""
    custody.generate(PW)
    assert run_worker(spec(paths, custody, per_worker=False))[0] == 0
    custody.replace("replaced in test", PW)
    code, err = run_worker(spec(paths, custody, per_worker=False))
    assert code != 0 and "release store identity mismatch" in err


def test_state_of_the_older_layout_moves_to_its_worker(paths, custody):
    a = custody.generate(PW)
    assert run_worker(spec(paths, custody, per_worker=False))[0] == 0  # older version wrote networks/devnet/state
    legacy = wc.legacy_state_dir(paths, "devnet")
    (legacy / "sim-control").write_text("ok")
    s = spec(paths, custody)
    s.prepare_dirs()
    assert (s.state_dir / "release_state.json").exists() and not (legacy / "release_state.json").exists()
    assert (legacy / "sim-control").exists()  # the devnet fault switch stays per network
    assert s.env()["SIM_CONTROL_FILE"] == str(legacy / "sim-control") and str(legacy) in s.extra_mounts
    # another worker's older state is never adopted
    custody.replace("r", PW)
    other = wc.WorkerSpec.build(paths, custody.network, ["llama3-8b"], PW, address=custody.address())
    assert not wc.adopt_legacy_state(s.state_dir, other.state_dir, custody.address())
    assert run_worker(other)[0] == 0
    assert a.lower() in str(s.state_dir)
