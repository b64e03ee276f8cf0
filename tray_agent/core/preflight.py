"""Preflight (reference-app §12, toolkit §9.2): what stops this worker from running or staking safely.

Each check is a small function over explicit collaborators and returns a :class:`Check` with ``result``
``ok``, ``warn`` or ``block``. BLOCK means a stake-changing step must not run: RPC unreachable or on the wrong
chain, the keystore password does not decrypt, the key does not belong to the worker, the ECDH key is missing
while a key is registered on-chain. WARN means the worker may not earn: Docker, worker image, Ollama, models,
disk space, clock skew, keep-awake, autostart. :func:`run_preflight` runs them all; a check that crashes counts
as its worst outcome (block for the blocking kinds), never as ok.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tray_agent.common.errors import AgentError

from .diskspace import MIN_FREE_BYTES, fmt_gib, free_bytes

if TYPE_CHECKING:
    from .chain.client import ChainClient
    from .keys.custody import KeyCustody
    from .runtime.keepawake import KeepAwake
    from .runtime.ollama import OllamaManager

Result = Literal["ok", "warn", "block"]
EXIT_OK, EXIT_BLOCK, EXIT_WARN = 0, 1, 5  # `lcai-tray preflight` exit codes
CLOCK_TOLERANCE_S = 120.0
_RANK = {"ok": 0, "warn": 1, "block": 2}


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    result: Result
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class PreflightBlocked(AgentError):
    code = "preflight_blocked"


def worst(results: Sequence[str]) -> Result:
    return max(results, key=lambda r: _RANK[r], default="ok")  # type: ignore[return-value]


def exit_code(report: dict) -> int:
    """0 all good, 1 any BLOCK, 5 only WARN."""
    return {"ok": EXIT_OK, "block": EXIT_BLOCK, "warn": EXIT_WARN}[report["result"]]


# Blocks a step may ignore: a lost ECDH key is fixed *by* deregistering (toolkit §5.2), so it must not stop it.
STEP_IGNORES: dict[str, frozenset[str]] = {"deregister": frozenset({"ecdh"})}


def require_no_block(report: dict, step: str = "") -> None:
    """Raise PreflightBlocked naming every BLOCK (call before each stake-changing step: register, top_up,
    reinstate, deregister — ``step`` names it so a block that the step itself repairs is let through)."""
    skip = STEP_IGNORES.get(step, frozenset())
    blocks = [c for c in report["checks"] if c["result"] == "block" and c["id"] not in skip]
    if blocks:
        raise PreflightBlocked("preflight blocks this step: " + "; ".join(f"{c['title']}: {c['detail']}" for c in blocks),
                               fix=blocks[0]["fix"] or "run 'lcai-tray preflight' and fix what it reports")


# --- keys ----------------------------------------------------------------------------------------------
class KeyProbe:
    """Unlocks the active key once for every check that needs it (scrypt takes about 1 s on real networks)."""

    def __init__(self, custody: KeyCustody):
        self.custody = custody
        self._key: bytes | None = None
        self._error: Exception | None = None
        self._done = False

    def unlock(self) -> bytes:
        if not self._done:
            self._done = True
            try:
                self._key = self.custody.unlock()
            except Exception as e:
                self._error = e
        if self._error is not None:
            raise self._error
        assert self._key is not None
        return self._key


def _problem(e: Exception) -> tuple[str, str]:
    if isinstance(e, AgentError):
        return e.message, e.fix
    return f"{type(e).__name__}", "see the agent log"


def check_keystore_password(custody: KeyCustody, probe: KeyProbe) -> Check:
    title = "Keystore password"
    if not custody.has_key():
        return Check("keystore_password", title, "block", f"no worker key on {custody.network.name} yet",
                     "finish setup (onboarding or 'lcai-tray setup') to create the worker key")
    try:
        probe.unlock()
    except Exception as e:
        msg, fix = _problem(e)
        return Check("keystore_password", title, "block", msg, fix)
    return Check("keystore_password", title, "ok", "the password in the keychain opens the keystore")


def check_key_address(custody: KeyCustody, probe: KeyProbe, target: str | None = None) -> Check:
    """The key that decrypts derives the keystore's address, key-meta's and the worker the agent targets."""
    from .chain.ops.context import verified_worker_address

    title = "Key matches the worker address"
    try:
        raw = probe.unlock()
    except Exception:
        return Check("key_address", title, "block", "cannot check: the keystore does not open",
                     "fix the keystore password first")
    try:
        addr = verified_worker_address(custody, raw, target)
    except AgentError as e:
        return Check("key_address", title, "block", e.message, e.fix)
    return Check("key_address", title, "ok", f"the key signs for {addr}")


def check_ecdh(custody: KeyCustody, chain: ChainClient | None, address: str | None) -> Check:
    """toolkit §5.2: a key registered on-chain needs its local encryption.key (no on-chain update exists)."""
    title = "Encryption (ECDH) key"
    path = custody.ecdh_path
    onchain: bytes | None = None
    chain_known = False
    if chain is not None and address:
        try:
            (raw,) = chain.read_many([(chain.registry, "getWorkerEncryptionKey", (address,))])
            onchain = bytes.fromhex(raw.removeprefix("0x")) if isinstance(raw, str) else bytes(raw or b"")
            chain_known = True
        except AgentError:
            chain_known = False
    if not path.exists():
        if chain_known and onchain:
            return Check("ecdh", title, "block",
                         f"the local key {path.name} is missing at {path} but a key is registered on-chain",
                         "restore encryption.key from your backup; without it the worker cannot decrypt sessions "
                         "(otherwise deregister and register again)")
        if not chain_known:
            return Check("ecdh", title, "block", f"{path.name} is missing and the chain cannot tell whether a key "
                         "is registered", "restore encryption.key from your backup, or fix the RPC and re-check")
        return Check("ecdh", title, "warn", f"{path.name} is not generated yet",
                     "setup creates it before registering")
    try:
        local = custody.ecdh_public_key()
    except Exception as e:
        msg, fix = _problem(e)
        return Check("ecdh", title, "block", f"{path.name} cannot be read: {msg}", fix)
    if not chain_known:
        return Check("ecdh", title, "warn", "the local key opens; the chain was not reachable to compare",
                     "fix the RPC and re-check")
    if onchain and onchain != local:
        return Check("ecdh", title, "block", f"{path.name} differs from the key registered on-chain",
                     "restore the encryption.key that was registered with this worker")
    return Check("ecdh", title, "ok", "matches the key registered on-chain" if onchain else "local key ready")


# --- chain -------------------------------------------------------------------------------------------------
def check_rpc(chain: ChainClient) -> Check:
    from .chain.rpc import _redact_url

    title = "Chain RPC"
    where = _redact_url(chain.rpc.url)
    try:
        cid = chain.chain_id(fresh=True)
        if cid != chain.network.chain_id:
            return Check("rpc", title, "block",
                         f"{where} serves chain id {cid}, but {chain.network.name} is chain id {chain.network.chain_id}",
                         "point the RPC address (Settings) at the selected network")
        number, _ts = chain.head()
    except AgentError as e:
        return Check("rpc", title, "block", f"cannot use {where}: {e.message}",
                     e.fix or "check the RPC address and your internet connection")
    return Check("rpc", title, "ok", f"{where}: chain id {cid}, block {number}")


def check_clock(chain: ChainClient, now: Callable[[], float] = time.time,
                tolerance_s: float = CLOCK_TOLERANCE_S, idle_chain: bool = False) -> Check:
    """``idle_chain``: the chain mines only on demand (devnet), so only a chain *ahead* of the clock counts."""
    title = "Clock against the chain"
    try:
        _n, ts = chain.head()
    except AgentError as e:
        return Check("clock", title, "warn", f"cannot compare: {e.message}", "fix the RPC first")
    skew = now() - ts
    if abs(skew) <= tolerance_s or (idle_chain and skew > 0):
        return Check("clock", title, "ok", f"{abs(skew):.0f} s from the latest block")
    side = "ahead of" if skew > 0 else "behind"
    return Check("clock", title, "warn", f"this computer's clock is {abs(skew):.0f} s {side} the chain's latest block "
                 "(or the RPC node lags): deadlines and release times will look wrong",
                 "turn on automatic date and time (NTP); if the clock is right, try another RPC")


# --- runtime ---------------------------------------------------------------------------------------------
def check_docker(get_client: Callable[[], Any]) -> Check:
    title = "Docker"
    try:
        client = get_client()
        if client is None:
            raise AgentError("Docker is not reachable", fix="start Docker (Docker Desktop, Colima or the service)")
        version = client.version().get("Version", "?")
    except Exception as e:
        msg, fix = _problem(e)
        return Check("docker", title, "warn", msg, fix or "start Docker, then re-check")
    return Check("docker", title, "ok", f"Docker {version} answers")


def check_image(get_client: Callable[[], Any], image: str | None) -> Check:
    from .runtime.images import local_image

    title = "Worker image"
    if not image:
        return Check("worker_image", title, "warn", "no worker image is configured for this network",
                     "set the image in networks.json")
    try:
        client = get_client()
        if client is None:
            raise AgentError("Docker is not reachable")
        info = local_image(client, image)
    except Exception as e:
        return Check("worker_image", title, "warn", f"cannot check {image}: {_problem(e)[0]}", "start Docker first")
    if info is None:
        return Check("worker_image", title, "warn", f"{image} is not downloaded yet",
                     "setup pulls it before registering; keep the internet connection up")
    return Check("worker_image", title, "ok", f"{image} present ({info.digest[:19]})")


def check_ollama(ollama: OllamaManager | None) -> Check:
    from .runtime.toolpath import find_tool

    title = "Ollama"
    if ollama is None:
        return Check("ollama", title, "ok", "not needed: the simulated worker answers jobs on this network")
    if ollama.reachable():
        return Check("ollama", title, "ok", f"answers at {ollama.url}")
    fix = ("start Ollama (the Ollama app or 'ollama serve'); the agent starts it when it runs the worker"
           if find_tool("ollama") else "install Ollama from ollama.com (or let the agent run the ollama/ollama "
           "container), then re-check")
    return Check("ollama", title, "warn", f"Ollama does not answer at {ollama.url}", fix)


def check_models(ollama: OllamaManager | None, models: Sequence[str]) -> Check:
    title = "Models"
    if not models:
        return Check("models", title, "warn", "no models are chosen", "choose the models to serve (Models page)")
    if ollama is None:
        return Check("models", title, "ok", f"served by the simulated worker: {', '.join(models)}")
    try:
        missing = ollama.missing(models)
    except Exception as e:
        return Check("models", title, "warn", f"cannot check: {_problem(e)[0]}", "start Ollama first")
    if missing:
        return Check("models", title, "warn", f"not downloaded under the exact name: {', '.join(missing)}",
                     f"setup downloads them before registering (or run 'ollama pull {missing[0]}')")
    return Check("models", title, "ok", f"present in Ollama: {', '.join(models)}")


def check_disk(path: Path, need_bytes: int = 0) -> Check:
    title = "Disk space"
    free = free_bytes(path)
    want = max(0, int(need_bytes)) + MIN_FREE_BYTES
    if free < want:
        return Check("disk", title, "warn", f"{fmt_gib(free)} free; about {fmt_gib(want)} needed "
                     "(downloads + a safety margin; Docker breaks on a full disk)",
                     "free disk space: empty the trash, remove unused Docker images or Ollama models")
    return Check("disk", title, "ok", f"{fmt_gib(free)} free")


def check_keep_awake(keep_awake: KeepAwake | None, enabled: bool = True) -> Check:
    from .runtime.keepawake import KeepAwake

    title = "Keep awake"
    if not enabled:
        return Check("keep_awake", title, "warn", "turned off: the computer may sleep and miss jobs",
                     "turn on 'Keep the computer awake' in Settings")
    ka = keep_awake
    probe = ka is None or not ka.held
    if probe:  # not holding right now: try once and let go again
        ka = KeepAwake()
        ka.acquire(timeout=5.0)
    assert ka is not None
    active, method, reason = ka.active, ka.method, ka.reason
    if probe:
        ka.release()
    if active:
        return Check("keep_awake", title, "ok", f"available ({method})" if method else "available")
    return Check("keep_awake", title, "warn", reason or "keep-awake unavailable on this system",
                 "set the computer never to sleep while on power (on servers this is usually already so)")


def check_autostart(profile: str, home: Path | None = None) -> Check:
    from .runtime import autostart

    title = "Start at login"
    kinds = autostart.enabled(profile, home)
    if kinds:
        return Check("autostart", title, "ok", f"on ({', '.join(kinds)})")
    return Check("autostart", title, "warn", "off: after a reboot nothing keeps the worker online until you open "
                 "the app", "turn on 'Start at login' in Settings, or run 'lcai-tray autostart on'")


# --- all together ---------------------------------------------------------------------------------------------
BLOCKING = {"rpc", "keystore_password", "key_address", "ecdh"}


def _guarded(check_id: str, title: str, fn: Callable[[], Check]) -> Check:
    try:
        return fn()
    except Exception as e:  # a crashing check is never "ok"
        msg, fix = _problem(e)
        return Check(check_id, title, "block" if check_id in BLOCKING else "warn", f"the check failed: {msg}", fix)


def run_preflight(*, chain: ChainClient | None, custody: KeyCustody, docker_client: Callable[[], Any],
                  ollama: OllamaManager | None, data_dir: Path, models: Sequence[str] = (), image: str | None,
                  keep_awake: KeepAwake | None = None, keep_awake_enabled: bool = True, profile: str = "default",
                  autostart_home: Path | None = None, target_address: str | None = None, disk_need_bytes: int = 0,
                  now: Callable[[], float] = time.time) -> dict:
    """Every check, in the order a user fixes them. Returns ``{result, checks: [...], counts, network, checked_at}``."""
    probe = KeyProbe(custody)
    network = custody.network.name

    def address() -> str | None:
        try:
            return target_address or custody.address()
        except AgentError:
            return None

    def no_chain() -> Check:
        return Check("rpc", "Chain RPC", "block", f"no chain client for {network}", "restart the agent")

    plan: list[tuple[str, str, Callable[[], Check]]] = [
        ("rpc", "Chain RPC", (lambda: check_rpc(chain)) if chain is not None else no_chain),
        ("keystore_password", "Keystore password", lambda: check_keystore_password(custody, probe)),
        ("key_address", "Key matches the worker address", lambda: check_key_address(custody, probe, target_address)),
        ("ecdh", "Encryption (ECDH) key", lambda: check_ecdh(custody, chain, address())),
        ("docker", "Docker", lambda: check_docker(docker_client)),
        ("worker_image", "Worker image", lambda: check_image(docker_client, image)),
        ("ollama", "Ollama", lambda: check_ollama(ollama)),
        ("models", "Models", lambda: check_models(ollama, models)),
        ("disk", "Disk space", lambda: check_disk(data_dir, disk_need_bytes)),
    ]
    if chain is not None:
        plan.append(("clock", "Clock against the chain", lambda: check_clock(chain, now, idle_chain=chain.network.simulated)))
    plan += [
        ("keep_awake", "Keep awake", lambda: check_keep_awake(keep_awake, keep_awake_enabled)),
        ("autostart", "Start at login", lambda: check_autostart(profile, autostart_home)),
    ]
    if not custody.has_key():  # nothing to check against the key yet: one block says "finish setup"
        plan = [p for p in plan if p[0] not in ("key_address", "ecdh")]
    checks = [_guarded(cid, title, fn).to_dict() for cid, title, fn in plan]
    counts = {r: sum(c["result"] == r for c in checks) for r in ("ok", "warn", "block")}
    return {"result": worst([c["result"] for c in checks]), "checks": checks, "counts": counts,
            "network": network, "checked_at": now()}
