"""Change the served model set live: pull new ones first → on-chain add/remove (no re-stake) → restart with the
new set → verify; on failure roll the chain and the container back to the old set."""

from __future__ import annotations

from collections.abc import Callable

from tray_agent.common.errors import AgentError

from .services.models import ModelService
from .services.money import MoneyOps
from .services.worker import WorkerService


def set_models(models_svc: ModelService, money: MoneyOps, worker: WorkerService, models: list[str],
               wait_online: Callable[..., bool], online_wait_s: float, progress):
    old = worker.local_models()
    models_svc.prepare(models, progress)
    res = money.change_models(models, progress)
    try:
        worker.set_local_models(models)
        if worker.runtime is not None:
            worker.runtime.restart()
            if not wait_online(progress, timeout=online_wait_s):
                raise AgentError("the worker did not come online with the new models",
                                 fix="the previous model set was restored", code="not_online")
    except AgentError:
        progress("rolling back to the previous model set", None)
        money.change_models(old, progress)
        worker.set_local_models(old)
        raise
    return money.refreshed(res)
