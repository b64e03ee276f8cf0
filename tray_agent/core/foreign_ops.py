"""A worker another app started on this machine (the official toolkit, LightNode): stop it, or adopt it — import its
key files (same keystore, same encryption key: a registered worker keeps its stake and sessions), drain it, stop it
and run ours with that key. Its running jobs are never cancelled by us: each stop waits for them first (§11)."""

from __future__ import annotations

from tray_agent.common.errors import AgentError, NotFoundError, ValidationError

from . import keys_ops
from .keys import KeyCustody
from .runtime import foreign
from .services.chain_sync import ChainSync
from .services.worker import WorkerService, cancel_of
from .state_owner import StateOwner

DRAIN_S = 240.0  # the longest job deadline (ack 90 s + completion 120 s), as for our own worker


def _client(worker: WorkerService):
    worker.supervisor()
    client = worker.docker_client()
    if client is None:
        raise AgentError("Docker is not reachable", fix="start Docker, then try again", code="docker_down")
    return client


def _others(worker: WorkerService, client) -> list[foreign.OtherWorker]:
    others, _stale = foreign.scan(client, worker.paths.container_name(worker.network.name), worker.paths.profile)
    return others


def _after_stop(worker: WorkerService, owner: StateOwner) -> None:
    worker._foreign_checked = 0.0  # look again at once: our worker starts on the next supervisor tick
    owner.report(wait=True, foreign=())
    worker.wake()


def stop_foreign(worker: WorkerService, owner: StateOwner, progress) -> dict:
    """Stop the worker containers another app started (each once its running jobs finished), then start ours."""
    client = _client(worker)
    names = [o.name for o in _others(worker, client)]
    stopped = foreign.drain_and_stop(client, names, DRAIN_S, progress, cancel_of(progress))
    _after_stop(worker, owner)
    return {"stopped": [s["name"] for s in stopped], "drained": stopped}


def _key_folder(attrs: dict, network: str, name: str):
    """The first mount of the foreign container that holds a worker keystore + encryption key (host path)."""
    from .keys.toolkit_io import locate

    paths = foreign.key_paths(attrs)
    if not paths:
        raise NotFoundError(f"the container {name} mounts no folder, so its key files cannot be found",
                            fix="import its keystore.json and encryption.key with Recover → Import instead",
                            code="foreign_no_mounts")
    problems = []
    for p in paths:
        try:
            found = locate(p, network)
        except PermissionError:
            problems.append(f"{p} is not readable by this user")
            continue
        except AgentError as e:
            problems.append(e.message)
            continue
        if found.encryption_key is None:
            problems.append(f"{found.folder} has a keystore but no encryption key file")
            continue
        return found
    unreadable = any("not readable" in p for p in problems)
    fix = ("the toolkit keeps its keys readable by root only: copy the folder (sudo cp -r) to a place your user "
           "can read, chown it to yourself, then use Recover → Import" if unreadable else
           "the worker's keystore.json and encryption.key must be in a folder mounted into its container; "
           "otherwise import them with Recover → Import")
    raise NotFoundError(f"no worker key files found in the mounts of {name}: " + "; ".join(problems),
                        fix=fix, code="foreign_keys_unreadable" if unreadable else "foreign_keys_missing")


def adopt_foreign(worker: WorkerService, custody: KeyCustody, owner: StateOwner, sync: ChainSync | None,
                  password: str, name: str, replace_active: bool, progress) -> dict:
    """Import the foreign worker's key files (checked before anything stops), drain and stop it, run ours."""
    client = _client(worker)
    others = _others(worker, client)
    if name:
        others = [o for o in others if o.name == name]
    if not others:
        raise NotFoundError(f"no other worker container {name or ''} is running".replace("  ", " "),
                            fix="nothing to adopt: check 'docker ps'", code="no_foreign")
    if len(others) > 1:
        raise ValidationError(f"{len(others)} other workers run: {', '.join(o.name for o in others)}",
                              fix="choose the one to adopt by its container name", field="name")
    other = others[0]
    net = worker.network
    if other.chain_id and other.chain_id.isdigit() and int(other.chain_id) != net.chain_id:
        raise ValidationError(f"{other.name} runs on chain {other.chain_id}, this app on {net.name} "
                              f"(chain {net.chain_id})", fix="switch this app to that worker's network first, "
                              "then adopt it", field="name", code="foreign_network")
    found = _key_folder(client.containers.get(other.name).attrs or {}, net.name, other.name)
    progress(f"importing the key files of {other.name} from {found.folder}", None)
    try:
        res = keys_ops.import_toolkit(worker, custody, owner, sync, str(found.keystore), password, replace_active,
                                      progress)
    except AgentError as e:
        if e.code != "key_already_active":
            raise
        res = {"address": custody.address(), "worker_started": False, "layout": found.layout}
    drained = foreign.drain_and_stop(client, [other.name], DRAIN_S, progress, cancel_of(progress))
    _after_stop(worker, owner)
    registered = bool(owner.facts.chain and owner.facts.chain.registered)
    if worker.local_models() and worker.runtime is not None:
        worker.runtime.resume()
    return {"adopted": other.name, "address": res["address"], "layout": res.get("layout", ""),
            "drained": drained, "registered": registered,
            "next": "" if worker.local_models() else "choose models and register in onboarding"}
