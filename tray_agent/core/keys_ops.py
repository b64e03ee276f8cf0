"""Key operations that touch the worker: remove it (key archived), replace its key, restore an archived key.

A key that still holds stake is never dropped silently: replacing it says where its stake stays, and a restore of
a staked key leads straight back to a running worker."""

from __future__ import annotations

from tray_agent.common.errors import AgentError

from .keys import KeyCustody
from .services.chain_sync import ChainSync
from .services.worker import WorkerService
from .state_owner import StateOwner


def remove_worker(worker: WorkerService, custody: KeyCustody, owner: StateOwner, progress) -> dict:
    worker.remove_container("worker removed", progress)
    archived = custody.archive_active("worker removed")
    owner.report(wait=True, address="", chain=None)
    return {"archived": archived.to_dict() if archived else None}


def replace_key(worker: WorkerService, custody: KeyCustody, owner: StateOwner, sync: ChainSync | None,
                progress) -> dict:
    """Archive the active key (its stake stays with it: recover it later, or deregister it first) and make a new
    one; the new key needs funding and registration through onboarding."""
    old = custody.address()
    if not old:
        raise AgentError("there is no worker key to replace", fix="create one in onboarding", code="no_key")
    staked = False
    if sync is not None:
        try:
            staked = sync.chain.is_still_staked(old)
        except AgentError:
            staked = False
    progress("stopping the worker of the old key", None)
    worker.remove_container("worker key replaced", progress)
    archived = custody.archive_active("replaced by a new key")
    address = custody.generate(None)
    owner.report(wait=True, address=address, chain=None)
    note = (f"The old key {old} still holds its stake: recover it from Recover keys to deregister it and get "
            "the stake back." if staked else f"The old key {old} is archived (no stake).")
    return {"old_address": old, "old_staked": staked, "address": address,
            "archived": archived.to_dict() if archived else None, "next": "fund and register the new key in onboarding",
            "note": note}


def import_toolkit(worker: WorkerService, custody: KeyCustody, owner: StateOwner, sync: ChainSync | None,
                   path: str, password: str, replace_active: bool, progress) -> dict:
    """Import a worker the official toolkit or LightNode made (keystore + its own encryption key); a registered
    one keeps its stake and starts serving its on-chain models at once."""
    from .keys.toolkit_io import import_worker

    progress(f"reading the worker files in {path}", None)
    with worker.hold("importing a worker key"):
        res = import_worker(custody, path, password, archive_active=replace_active)
    owner.report(wait=True, address=res.address, chain=None)
    out = {"address": res.address, "layout": res.layout, "password_changed": res.password_changed,
           "worker_started": False}
    snap = sync.refresh() if sync is not None else None
    if snap is not None and snap.registered and snap.served_models:
        worker.set_local_models(list(snap.served_models))
        if worker.runtime is not None:
            worker.runtime.resume()
        out["worker_started"] = True
        progress("the imported worker is registered: starting it with its on-chain models", None)
    return out


def recover(worker: WorkerService, custody: KeyCustody, owner: StateOwner, sync: ChainSync | None,
            entry_id: str, progress) -> dict:
    """Make an archived key active again; if it is registered on chain, serve its on-chain models at once."""
    progress("archiving the current key and restoring the chosen one", None)
    with worker.hold("switching the worker key"):
        address = custody.restore(entry_id)
    owner.report(wait=True, address=address, chain=None)
    resumed = False
    if sync is not None:
        snap = sync.refresh()
        if snap is not None and snap.registered and snap.served_models:
            worker.set_local_models(list(snap.served_models))
            if worker.runtime is not None:
                worker.runtime.resume()
            resumed = True
            progress("the restored key is registered: starting its worker", None)
    return {"address": address, "worker_started": resumed}
