"""Local devnet: anvil + the replica contracts (our 'devnet' network profile; not LightChain's devnet).

``start_devnet(work_dir)`` finds anvil, starts it on a free loopback port with ``--state`` (the chain survives
agent restarts), deploys the replicas from the committed artifacts, places WorkerRegistry at the 0x…1002
predeploy, configures models/fees/min stake/dispute window, pre-funds a "user wallet", and writes an address
book (``devnet.json``). A still-running instance recorded there is reused. ``Devnet.stop()`` kills by PID.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from eth_utils import keccak, to_checksum_address

from tray_agent.common.atomic import atomic_write
from tray_agent.common.errors import AgentError
from tray_agent.devnet.lifeline import spawn

from .networks import Network, get_network

PREDEPLOY = "0x0000000000000000000000000000000000001002"
DEFAULT_CHAIN_ID = 31337
ETHER = 10**18
# Models from networks.md §6 with their testnet fees (wei), all whitelisted + enabled on the devnet.
DEVNET_MODELS: dict[str, int] = {
    "llama3-8b": 20 * 10**15,
    "qwen3-embedding:0.6b": 5 * 10**15,
    "gpt-oss:20b": 40 * 10**15,
    "qwen3-vl:8b": 20 * 10**15,
    "glm-4.7-flash": 20 * 10**15,
}
MIN_STAKE_WEI = 5000 * ETHER
USER_WALLET_WEI = 20_000 * ETHER
BOOK_NAME = "devnet.json"
STATE_NAME = "anvil-state.json"


class DevnetError(AgentError):
    code = "devnet_error"


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _anvil_package() -> str:
    system = {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}.get(platform.system(), "linux")
    arch = "arm64" if platform.machine().lower() in ("arm64", "aarch64") else "amd64"
    return f"anvil-{system}-{arch}"


def find_anvil() -> str:
    """anvil binary: $LCAI_ANVIL, then .tools/node_modules (npm @foundry-rs/anvil), then PATH."""
    env = os.environ.get("LCAI_ANVIL")
    if env:
        if Path(env).is_file() and os.access(env, os.X_OK):
            return env
        raise DevnetError(f"LCAI_ANVIL={env} is not an executable file", fix="point LCAI_ANVIL at the anvil binary")
    exe = "anvil.exe" if platform.system() == "Windows" else "anvil"
    cand = _repo_root() / ".tools" / "node_modules" / "@foundry-rs" / _anvil_package() / "bin" / exe
    if cand.is_file() and os.access(cand, os.X_OK):
        return str(cand)
    found = shutil.which("anvil")
    if found:
        return found
    raise DevnetError("anvil (the local devnet chain) is not installed",
                      fix="run `bash scripts/bootstrap.sh` (installs @foundry-rs/anvil into .tools/), or set LCAI_ANVIL")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _pid_alive(pid: int) -> bool:
    """Running (not a zombie) — via psutil, so it is safe on Windows too (os.kill(pid, 0) terminates there)."""
    import psutil

    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _address_of(key: bytes) -> str:
    from eth_keys import keys  # lighter than eth_account, which the idle agent does not need

    return keys.PrivateKey(key).public_key.to_checksum_address()


def devnet_key(label: str) -> bytes:
    """Deterministic devnet-only private keys (never use on a real network)."""
    return keccak(text=f"lcai-devnet/{label}")


@dataclass
class Devnet:
    rpc_url: str
    chain_id: int
    port: int
    pid: int
    work_dir: Path
    addresses: dict[str, str]
    owner: tuple[str, str] = field(repr=False)        # (address, private key hex) — devnet only
    user_wallet: tuple[str, str] = field(repr=False)
    consumer: tuple[str, str] = field(repr=False)
    models: dict[str, int] = field(default_factory=dict)
    dispute_window_s: int = 60
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def state_file(self) -> Path:
        return self.work_dir / STATE_NAME

    @property
    def book_file(self) -> Path:
        return self.work_dir / BOOK_NAME

    def network(self, base: Network | None = None) -> Network:
        """The devnet Network with RPC and contract addresses filled in."""
        base = base or get_network("devnet")
        return base.replace(
            chain_id=self.chain_id, rpc_url=self.rpc_url, worker_registry=self.addresses["WorkerRegistry"],
            ai_config=self.addresses["AIConfig"], job_registry=self.addresses["JobRegistry"], session_manager="",
            sortition_enabled=False, simulated=True,
        )

    def rpc(self, method: str, params: list | None = None):
        from .chain.rpc import RpcClient

        return RpcClient(self.rpc_url).call(method, params or [])

    def increase_time(self, seconds: int) -> None:
        """Advance chain time and mine one block."""
        self.rpc("evm_increaseTime", [int(seconds)])
        self.rpc("evm_mine", [])

    def set_balance(self, address: str, wei: int) -> None:
        self.rpc("anvil_setBalance", [to_checksum_address(address), hex(wei)])

    def alive(self) -> bool:
        return _pid_alive(self.pid)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate by PID (SIGTERM: anvil dumps --state on exit), kill after ``timeout_s``."""
        import psutil

        if self.pid <= 0:
            return
        try:
            proc = psutil.Process(self.pid)
            proc.terminate()
        except psutil.NoSuchProcess:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                return
            if self._proc is None and not _pid_alive(self.pid):
                return
            time.sleep(0.05)
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
        if self._proc is not None:
            self._proc.wait(5)

    def to_book(self) -> dict:
        return {
            "chainId": self.chain_id, "rpc": self.rpc_url, "port": self.port, "pid": self.pid,
            "WorkerRegistry": self.addresses["WorkerRegistry"], "AIConfig": self.addresses["AIConfig"],
            "JobRegistry": self.addresses["JobRegistry"], "Treasury": self.addresses.get("Treasury", ""),
            "owner": {"address": self.owner[0], "privateKey": self.owner[1]},
            "userWallet": {"address": self.user_wallet[0], "privateKey": self.user_wallet[1]},
            "consumer": {"address": self.consumer[0], "privateKey": self.consumer[1]},
            "models": {k: str(v) for k, v in self.models.items()}, "disputeWindowS": self.dispute_window_s,
            "stateFile": str(self.state_file),
        }

    def write_book(self) -> None:
        atomic_write(self.book_file, json.dumps(self.to_book(), indent=1))


def _accounts() -> tuple[tuple[str, str], tuple[str, str], tuple[str, str]]:
    out = []
    for label in ("owner", "user-wallet", "consumer"):
        k = devnet_key(label)
        out.append((_address_of(k), "0x" + k.hex()))
    return out[0], out[1], out[2]


def _rpc_ready(url: str, chain_id: int, timeout_s: float, proc: subprocess.Popen | None, log: Path) -> None:
    from .chain.rpc import RpcClient

    rpc = RpcClient(url, timeout_s=1.0)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if int(rpc.call("eth_chainId"), 16) == chain_id:
                return
        except AgentError:
            pass
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
            raise DevnetError(f"anvil exited with code {proc.returncode}: {tail.strip()}", fix="see anvil.log")
        if time.monotonic() > deadline:
            raise DevnetError(f"anvil did not answer on {url} within {timeout_s:.0f} s", fix="see anvil.log")
        time.sleep(0.05)


def _try_reuse(work_dir: Path, chain_id: int) -> Devnet | None:
    book_path = work_dir / BOOK_NAME
    if not book_path.exists():
        return None
    try:
        book = json.loads(book_path.read_text())
    except ValueError:
        return None
    if book.get("chainId") != chain_id or not _pid_alive(int(book.get("pid", 0))):
        return None
    import psutil

    try:  # the PID may have been recycled after a reboot
        if "anvil" not in psutil.Process(int(book["pid"])).name().lower():
            return None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    from .chain.rpc import RpcClient

    try:
        rpc = RpcClient(book["rpc"], timeout_s=2.0)
        if int(rpc.call("eth_chainId"), 16) != chain_id or "anvil" not in str(rpc.call("web3_clientVersion")).lower():
            return None
        if rpc.call("eth_getCode", [PREDEPLOY, "latest"]) in ("0x", ""):
            return None
    except AgentError:
        return None
    return _from_book(book, work_dir, None)


def _from_book(book: dict, work_dir: Path, proc: subprocess.Popen | None) -> Devnet:
    return Devnet(
        rpc_url=book["rpc"], chain_id=book["chainId"], port=book["port"], pid=book["pid"], work_dir=work_dir,
        addresses={k: book[k] for k in ("WorkerRegistry", "AIConfig", "JobRegistry", "Treasury") if k in book},
        owner=(book["owner"]["address"], book["owner"]["privateKey"]),
        user_wallet=(book["userWallet"]["address"], book["userWallet"]["privateKey"]),
        consumer=(book["consumer"]["address"], book["consumer"]["privateKey"]),
        models={k: int(v) for k, v in book.get("models", {}).items()}, dispute_window_s=book.get("disputeWindowS", 60),
        _proc=proc,
    )


def _set_aside_if_damaged(work_dir: Path) -> None:
    """A damaged address book cannot name the deployed contracts: keep a copy and start a fresh chain."""
    book_path = work_dir / BOOK_NAME
    if not book_path.exists():
        return
    try:
        book = json.loads(book_path.read_text())
        if not isinstance(book, dict):
            raise ValueError("not a JSON object")
        return
    except (ValueError, OSError) as e:
        reason = str(e)
    stamp = int(time.time())
    for name in (BOOK_NAME, STATE_NAME):
        with contextlib.suppress(OSError):
            (work_dir / name).rename(work_dir / f"{name}.damaged-{stamp}")
    logging.getLogger(__name__).error("devnet address book was damaged (%s); kept a copy and started a fresh "
                                      "devnet chain", reason)


def start_devnet(work_dir: Path, *, chain_id: int = DEFAULT_CHAIN_ID, port: int | None = None,
                 dispute_window_s: int = 60, models: dict[str, int] | None = None,
                 min_stake_wei: int = MIN_STAKE_WEI, reuse: bool = True, state: bool = True,
                 ready_timeout_s: float = 20.0) -> Devnet:
    """Start (or reuse) anvil in ``work_dir`` and make sure the replicas are deployed and configured."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    if reuse:
        existing = _try_reuse(work_dir, chain_id)
        if existing is not None:
            return existing
    _set_aside_if_damaged(work_dir)
    anvil = find_anvil()
    if port is None:
        port = free_port()
        book_path = work_dir / BOOK_NAME
        if state and book_path.exists():  # keep the same URL across restarts when possible
            try:
                old = json.loads(book_path.read_text()).get("port")
                if old and _port_free(int(old)):
                    port = int(old)
            except ValueError:
                pass
    log = work_dir / "anvil.log"
    cmd = [anvil, "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id)]
    if state:
        cmd += ["--state", str(work_dir / STATE_NAME), "--state-interval", "5"]
    outlives = os.environ.get(CHAIN_OUTLIVES_ENV) == "1"
    with open(log, "ab") as logf:
        # dies with the agent, also after kill -9 (Linux parent-death signal: SIGTERM, so anvil dumps --state);
        # CHAIN_OUTLIVES_ENV keeps it running like a real network that outlives a killed agent (crash tests)
        start = subprocess.Popen if outlives else spawn
        proc = start(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                     start_new_session=True, cwd=str(work_dir))
    url = f"http://127.0.0.1:{port}"
    owner, user, consumer = _accounts()
    dn = Devnet(rpc_url=url, chain_id=chain_id, port=port, pid=proc.pid, work_dir=work_dir, addresses={},
                owner=owner, user_wallet=user, consumer=consumer, dispute_window_s=dispute_window_s, _proc=proc)
    try:
        _rpc_ready(url, chain_id, ready_timeout_s, proc, log)
        book = json.loads((work_dir / BOOK_NAME).read_text()) if (work_dir / BOOK_NAME).exists() else {}
        code = dn.rpc("eth_getCode", [PREDEPLOY, "latest"])
        if state and book.get("chainId") == chain_id and code not in ("0x", "") and book.get("AIConfig"):
            restored = _from_book(dict(book, rpc=url, port=port, pid=proc.pid), work_dir, proc)
            _keep_chain_time(restored)
            restored.write_book()
            return restored
        deploy_replicas(dn, models=DEVNET_MODELS if models is None else models, min_stake_wei=min_stake_wei)
        dn.write_book()
    except BaseException:
        dn.stop()
        raise
    return dn


CHAIN_OUTLIVES_ENV = "LCAI_DEVNET_CHAIN_OUTLIVES_AGENT"


def _keep_chain_time(dn: Devnet) -> None:
    """anvil restored from --state forgets time travel (evm_increaseTime): new blocks would carry the wall clock,
    earlier than the blocks already mined. Keep the chain's clock going from its last block instead."""
    last = int(dn.rpc("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    if last >= int(time.time()):
        dn.rpc("evm_setTime", [last + 1])


def deploy_replicas(dn: Devnet, *, models: dict[str, int], min_stake_wei: int) -> None:
    """Deploy AIConfig + JobRegistry, place WorkerRegistry at 0x…1002, wire and configure everything."""
    from .chain.abi import Contract, artifact
    from .chain.client import ChainClient
    from .chain.tx import TxSender

    for addr, wei in ((dn.owner[0], 10**6 * ETHER), (dn.user_wallet[0], USER_WALLET_WEI),
                      (dn.consumer[0], 10**6 * ETHER)):
        dn.set_balance(addr, wei)
    net = get_network("devnet").replace(chain_id=dn.chain_id, rpc_url=dn.rpc_url)
    client = ChainClient(net)
    owner = TxSender(client, bytes.fromhex(dn.owner[1][2:]), poll_s=0.02)

    def deploy(name: str) -> str:
        res = owner.send(None, artifact(name)["bytecode"])
        assert not isinstance(res, str)
        return res.contract_address

    ai_addr = deploy("AIConfigReplica")
    jr_addr = deploy("JobRegistryReplica")
    tmp = deploy("WorkerRegistryReplica")
    dn.rpc("anvil_setCode", [PREDEPLOY, dn.rpc("eth_getCode", [tmp, "latest"])])
    treasury = _address_of(devnet_key("treasury"))
    fee_pool = _address_of(devnet_key("fee-pool"))
    ai = Contract.worker("AIConfig", ai_addr, with_replica=True)
    jr = Contract.worker("JobRegistry", jr_addr, with_replica=True)
    reg = Contract.worker("WorkerRegistry", PREDEPLOY, with_replica=True)

    def tx(c: Contract, fn: str, *args) -> None:
        owner.send(c.address, c.encode(fn, *args))

    tx(reg, "initialize", dn.owner[0], ai_addr, jr_addr, treasury, dn.owner[0])
    tx(jr, "initialize", dn.owner[0], PREDEPLOY, ai_addr, treasury, fee_pool, dn.owner[0])
    tx(ai, "setMinWorkerStake", min_stake_wei)
    tx(ai, "setDisputeWindow", dn.dispute_window_s)
    for name, fee in models.items():
        mid = keccak(text=name)
        tx(ai, "registerModel", mid, fee, 4096)
        tx(ai, "enableModel", mid)
        tx(reg, "addWhitelistedModel", mid)
    dn.addresses = {"WorkerRegistry": to_checksum_address(PREDEPLOY), "AIConfig": ai_addr, "JobRegistry": jr_addr,
                    "Treasury": treasury}
    dn.models = dict(models)
