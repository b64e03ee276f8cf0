"""The one agent harness: a real ``lcai-tray serve --headless`` process, driven over its local API.

Used by tests/agent, tests/faults, tests/badinput, tests/ui and the benchmarks. Everything is started and stopped
by PID: the agent (own session), the anvil it starts (PID from devnet.json) and the worker containers (label
``lcai.profile=<profile>``). No test here imports the agent in-process.

"Ready" has one meaning everywhere (``AgentProc.wait_ready``): the api.json was written by this process and
/api/status answers 200 with a WorkerState (``tests.harness.client.is_ready``), and start-up finished — the
status says ``ready: true`` once the agent publishes that field; until then the agent's "agent running" log line
(written after Agent.start()) stands in for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.client import ApiClient, ApiResult, read_api_file
from tests.polling import poll

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
PASSWORD = "Devnet-Password-1"
MODEL = "llama3-8b"
ETHER = 10**18


class AgentDied(RuntimeError):
    pass


@dataclass
class AgentProc:
    """One ``lcai-tray serve --headless`` process of profile ``profile`` below ``home`` (LCAI_TRAY_HOME)."""

    home: Path
    profile: str = "fault"
    network: str = "devnet"
    secrets_file: Path | None = None        # None → the OS keychain (Secret Service in the test D-Bus session)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    info: dict | None = None
    log_name: str = "agent-proc.log"
    api: ApiClient | None = None            # the one client, set once the agent is ready

    # --- paths --------------------------------------------------------------------------------------
    @property
    def base(self) -> Path:
        return Path(self.home) / self.profile

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def config(self) -> Path:
        return self.base / "config"

    @property
    def api_file(self) -> Path:
        return self.base / "run" / "api.json"

    @property
    def key_dir(self) -> Path:
        return self.data / "networks" / self.network / "keys"

    @property
    def book_file(self) -> Path:
        return self.data / "networks" / "devnet" / "chain" / "devnet.json"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"LCAI_TRAY_HOME": str(self.home), "LCAI_TRAY_PROFILE": self.profile, "PYTHONUNBUFFERED": "1"})
        # the devnet's simulated Ollama reports realistic timings but waits only 2 % of them in tests
        env.setdefault("LCAI_SIM_OLLAMA_TIME_SCALE", "0.02")
        env.update(self.extra_env)
        return env

    def argv(self, *tail: str) -> list[str]:
        cmd = [PYTHON, "-m", "tray_agent", "--profile", self.profile, "--network", self.network]
        if self.secrets_file is not None:
            cmd += ["--secrets-file", str(self.secrets_file)]
        return [*cmd, *tail]

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> AgentProc:
        Path(self.home).mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.api_file.unlink()  # a stale file from a killed run must not be mistaken for the new one
        logf = Path(self.home) / self.log_name
        self._log_offset = logf.stat().st_size if logf.exists() else 0
        out = open(logf, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(self.argv("serve", "--headless"), env=self.env(), stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                     cwd=str(ROOT))
        out.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> ApiClient:
        """Block until this process is ready (module docstring); its client. AgentDied / TimeoutError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AgentDied(f"agent exited with {self.proc.returncode}: {self.tail()}")
            info = read_api_file(self.api_file)
            if info and self.proc is not None and info.get("pid") == self.proc.pid:
                client = ApiClient(info)
                try:
                    res = client.request("GET", "/api/status", timeout=5)
                except (OSError, urllib.error.URLError):
                    res = None
                if res is not None and self._started(res):
                    self.info, self.api = info, client
                    return client
            time.sleep(0.1)
        raise TimeoutError(f"agent was not ready within {timeout} s: {self.tail()}")

    def _started(self, res: ApiResult) -> bool:
        from tests.harness.client import is_ready

        if not is_ready(res):
            return False
        if "ready" in res.body:  # the agent says itself whether its start-up finished
            return True
        return "agent running" in self.new_log()

    def wait_api(self, timeout: float = 60.0) -> dict:
        """Compatibility name of ``wait_ready``: the api.json of the ready agent."""
        self.wait_ready(timeout)
        assert self.info is not None
        return self.info

    _log_offset: int = 0

    def new_log(self) -> str:
        p = Path(self.home) / self.log_name
        try:
            with open(p, "rb") as fh:
                fh.seek(self._log_offset)
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def tail(self, n: int = 3000) -> str:
        p = Path(self.home) / self.log_name
        return p.read_text(errors="replace")[-n:] if p.exists() else ""

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM the agent (it stops its devnet chain), SIGKILL after ``timeout``; its exit code."""
        return self.terminate(timeout)

    def terminate(self, timeout: float = 20.0) -> int | None:
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    @property
    def book(self) -> dict:
        """The devnet book (rpc, pid, contracts, accounts); KeyError-free only once the chain was made."""
        book = self.devnet_book()
        assert book is not None, f"no devnet book at {self.book_file}"
        return book

    @property
    def log(self) -> Path:
        return Path(self.home) / self.log_name

    def devnet_book(self) -> dict | None:
        try:
            return json.loads(self.book_file.read_text())
        except (OSError, ValueError):
            return None

    def anvil_pid(self) -> int:
        book = self.devnet_book() or {}
        return int(book.get("pid") or 0)

    def rpc_url(self) -> str:
        return (self.devnet_book() or {})["rpc"]

    def sim_ollama_url(self) -> str:
        """The devnet's simulated Ollama (the port the session keeps in worker.json); "" before it started."""
        try:
            doc = json.loads((self.data / "networks" / "devnet" / "worker.json").read_text())
        except (OSError, ValueError):
            return ""
        port = int(doc.get("sim_ollama_port") or 0)
        return f"http://127.0.0.1:{port}" if port else ""

    def cleanup(self, docker_client=None) -> None:
        """Stop the agent, its anvil (by PID), whatever else it started (by PID: processes whose command line or
        environment names this agent's home — e.g. a devnet consumer orphaned by a kill -9) and its containers
        (by profile label)."""
        import psutil

        self.terminate()
        self.save_log()
        pids = {self.anvil_pid()} | {p.pid for p in self.leftovers()}
        procs = []
        for pid in pids - {0, os.getpid()}:
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                p.terminate()
                procs.append(p)
        _, alive = psutil.wait_procs(procs, timeout=5)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        if docker_client is not None:
            for c in docker_client.containers.list(all=True, filters={"label": f"lcai.profile={self.profile}"}):
                with contextlib.suppress(Exception):
                    c.remove(force=True)

    def save_log(self) -> Path | None:
        """Keep the agent's log in test-output/agent-logs/ (the pytest temp folder may be gone when you look)."""
        if not self.log.exists():
            return None
        out = ROOT / "test-output" / "agent-logs"
        with contextlib.suppress(OSError):
            out.mkdir(parents=True, exist_ok=True)
            dest = out / f"{self.profile}-{Path(self.home).name}.log"
            dest.write_text(self.tail(500_000))
            return dest
        return None

    def leftovers(self) -> list:
        """Live processes (not zombies) that belong to this agent's home: its own, its anvil, its consumer…"""
        import psutil

        home = str(Path(self.home).resolve())
        out = []
        for p in psutil.process_iter(["pid", "status"]):
            if p.pid == os.getpid() or p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            try:
                env_home = p.environ().get("LCAI_TRAY_HOME", "")
                in_cmd = any((a + os.sep).startswith(home + os.sep) or (home + os.sep) in a for a in p.cmdline())
                if in_cmd or (env_home and str(Path(env_home).resolve()) == home):
                    out.append(p)
            except psutil.Error:
                continue
        return out

    # --- API ------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, timeout: float = 30.0,
                raw: bytes | None = None) -> ApiResult:
        assert self.api is not None, "agent not started"
        return self.api.request(method, path, body, timeout=timeout, raw=raw)

    @property
    def client(self) -> ApiClient:
        """The ready agent's client (raising ``get``/``post``)."""
        assert self.api is not None, "agent not started"
        return self.api

    @client.setter
    def client(self, value: ApiClient) -> None:
        self.api = value

    def get(self, path: str, **kw) -> ApiResult:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw) -> ApiResult:
        return self.request("POST", path, {} if body is None else body, **kw)

    def status(self) -> dict:
        return self.get("/api/status").body

    def wait_op(self, op_id: str, timeout: float = 120.0) -> dict:
        return wait_op(self.client, op_id, timeout)

    def op(self, kind: str, body: dict | None = None, timeout: float = 120.0) -> dict:
        r = self.post(f"/api/ops/{kind}", body or {})
        assert r.status == 202, (kind, r.status, r.body)
        return self.wait_op(r.body["op_id"], timeout)

    def wait_state(self, state: str = "online", timeout: float = 60.0, interval: float = 0.1) -> float:
        """Seconds until the status state equals ``state``; raises TimeoutError."""
        t0 = time.monotonic()
        last = None
        while time.monotonic() - t0 < timeout:
            try:
                last = self.status()
                if last.get("state") == state:
                    return time.monotonic() - t0
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(interval)
        raise TimeoutError(f"state {state!r} not reached in {timeout} s; last status: {last}")

    def cli(self, *args: str, timeout: float = 120.0, input_: str | None = None) -> subprocess.CompletedProcess:
        """Run ``lcai-tray --profile P <args>`` against this agent (same LCAI_TRAY_HOME)."""
        cmd = [PYTHON, "-m", "tray_agent", "--profile", self.profile, *args]
        return subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=timeout,
                              input=input_, cwd=str(ROOT))

    # --- onboarding -------------------------------------------------------------------------------------
    def onboard_until_password(self, password: str = PASSWORD, models: list[str] | None = None) -> str:
        r = self.post("/api/onboarding/network", {"network": "devnet"})
        assert r.status == 200, r.body
        r = self.post("/api/onboarding/models", {"models": models or [MODEL]})
        assert r.status == 200, r.body
        r = self.post("/api/onboarding/password", {"password": password})
        assert r.status == 200, r.body
        return self.status()["address"]

    def onboard(self, timeout: float = 180.0) -> dict:
        """The full verified flow: network → models → password → devnet fund → continue (→ online)."""
        self.onboard_until_password()
        rec = self.op("devnet_fund", {}, timeout=60)
        assert rec["state"] == "done", rec
        r = self.post("/api/onboarding/continue", {})
        assert r.status == 202, r.body
        rec = self.wait_op(r.body["op_id"], timeout)
        assert rec["state"] == "done", rec
        return rec


FINAL_OP_STATES = ("done", "failed", "interrupted", "cancelled")


def wait_op(client: ApiClient, op_id: str, timeout: float = 120.0, interval: float = 0.2) -> dict:
    """The operation's record once it is final (done, failed, interrupted); TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    rec: dict = {}
    while time.monotonic() < deadline:
        r = client.request("GET", f"/api/ops/{op_id}")
        body = getattr(r, "body", r)  # the harness client's ApiResult, or the product client's JSON body
        rec = body if isinstance(body, dict) else {}
        if rec.get("state") in FINAL_OP_STATES:
            return rec
        time.sleep(interval)
    raise TimeoutError(f"operation {op_id} did not finish in {timeout} s: {rec}")


def wait_until(pred, timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    """Like tests.polling.wait_for, but a TimeoutError (benchmarks catch it)."""
    ok, last = poll(pred, timeout, interval)
    if not ok:
        raise TimeoutError(f"{what} not reached within {timeout} s")
    return last


def tree_hashes(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every regular file below ``root`` (paths relative), skipping names containing any of ``skip``."""
    out: dict[str, str] = {}
    root = Path(root)
    if not root.exists():
        return out
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if not p.is_file() or any(s in rel for s in skip):
            continue
        with contextlib.suppress(OSError):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class Chain:
    """Plain JSON-RPC reads against the agent's anvil (balances, nonces, registration)."""

    def __init__(self, rpc_url: str):
        self.url = rpc_url

    def call(self, method: str, params: list | None = None, timeout: float = 10.0) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
        req = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            out = json.loads(r.read())
        if "error" in out:
            raise RuntimeError(out["error"])
        return out["result"]

    def balance(self, addr: str) -> int:
        return int(self.call("eth_getBalance", [addr, "latest"]), 16)

    def nonce(self, addr: str) -> int:
        return int(self.call("eth_getTransactionCount", [addr, "latest"]), 16)

    def block(self) -> int:
        return int(self.call("eth_blockNumber"), 16)


def docker_client_or_none():
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return None
    try:
        import docker

        c = docker.DockerClient(base_url=host, timeout=30)
        c.ping()
        return c
    except Exception:
        return None


def make_releasable(agent: AgentProc, count: int, model: str = MODEL, advance_s: int = 61) -> list[int]:
    """Completed jobs for the agent's worker (replica test hook, paid by the devnet consumer), past the dispute
    window. Returns the job ids."""
    from eth_utils import keccak

    from tray_agent.core.chain.abi import Contract
    from tray_agent.core.chain.client import ChainClient
    from tray_agent.core.chain.tx import TxSender
    from tray_agent.core.networks import get_network

    book = agent.devnet_book()
    assert book, "no devnet book yet"
    net = get_network("devnet").replace(chain_id=book["chainId"], rpc_url=book["rpc"],
                                        worker_registry=book["WorkerRegistry"], ai_config=book["AIConfig"],
                                        job_registry=book["JobRegistry"], simulated=True)
    client = ChainClient(net)
    jr = Contract.worker("JobRegistry", book["JobRegistry"], with_replica=True)
    ai = Contract.worker("AIConfig", book["AIConfig"], with_replica=True)
    mid = keccak(text=model)
    fee = int(client.call(ai, "getModelFee", mid))
    sender = TxSender(client, bytes.fromhex(book["consumer"]["privateKey"].removeprefix("0x")), poll_s=0.02)
    worker = agent.status()["address"]
    ids: list[int] = []
    left = count
    while left > 0:
        n = min(50, left)
        res = sender.send(jr.address, jr.encode("testCreateCompletedJobs", worker, mid, n), fee * n)
        ids += [int(e.args["jobId"]) for e in res.events(jr, "JobCompleted")]
        left -= n
    if advance_s:
        ch = Chain(book["rpc"])
        ch.call("evm_increaseTime", [advance_s])
        ch.call("evm_mine", [])
    return ids


def user_wallet_received(agent: AgentProc) -> int:
    """How much the devnet 'your wallet' account has paid out (funding) since the chain was made."""
    from tray_agent.core.devnet import USER_WALLET_WEI

    book = agent.devnet_book()
    return USER_WALLET_WEI - Chain(book["rpc"]).balance(book["userWallet"]["address"])


@contextlib.contextmanager
def online_agent(home: Path, profile: str) -> Iterator[AgentProc]:
    """An agent started, onboarded on devnet and online; shut down with its worker and cleaned up afterwards."""
    a = AgentProc(home, profile=profile)
    a.start(timeout=90)
    try:
        a.onboard(timeout=240)
        a.wait_state("online", timeout=120)
        yield a
    finally:
        a.cli("shutdown", "--stop-worker")
        a.cleanup(docker_client_or_none())
