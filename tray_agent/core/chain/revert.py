"""Human messages for decoded custom errors (spec toolkit.md §14), with an ETA where the revert carries one."""

from __future__ import annotations

import time

from tray_agent.common.amounts import format_lcai
from tray_agent.common.words import plural_forms

from .abi import DecodedError, decode_error
from .errors import CallReverted, Reverted, TxReverted


def fmt_time(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


# name -> (message template, fix, ETA argument name)
_TABLE: dict[str, tuple[str, str, str | None]] = {
    "InsufficientStake": ("not enough stake: {required_lcai} LCAI required, {provided_lcai} LCAI provided",
                          "send more LCAI to the worker address or top up the stake", None),
    "WorkerAlreadyRegistered": ("this worker address is already registered", "nothing to do", None),
    "WorkerNotRegistered": ("this worker address is not registered on-chain", "run setup / register first", None),
    "InvalidEncryptionKey": ("the encryption key is not a 65-byte uncompressed P-256 public key",
                             "regenerate the worker's encryption key", None),
    "ModelNotWhitelisted": ("model {modelId} is not on this network's model list", "check the exact model name", None),
    "ModelNotRegistered": ("model {modelId} is whitelisted but disabled in AIConfig", "choose another model", None),
    "ModelAlreadySupported": ("the model is already added", "nothing to do", None),
    "ModelNotSupported": ("the worker does not serve model {modelId}", "nothing to remove", None),
    "ActiveJobsExist": ("{activeJobCount} job(s) are still active or unreleased",
                        "wait for them to finish and the dispute window to pass, then settle earnings", None),
    "ActiveJobsExistForModel": ("{count} job(s) for this model are still unreleased",
                                "settle earnings after the dispute window, then retry", None),
    "StillSuspended": ("the worker is suspended until {until_time}", "run reinstate after that time", "until"),
    "WorkerIsSuspended": ("the worker is suspended until {until_time}", "run reinstate after that time", "until"),
    "WorkerNotSuspended": ("the worker is not suspended", "nothing to do", None),
    "NoBalanceToWithdraw": ("no earnings to withdraw yet", "settle released jobs first", None),
    "DisputeWindowNotElapsed": ("job {jobId} is not releasable before {windowEnd_time} (dispute window)",
                                "retry after that time", "windowEnd"),
    "NoFaultWindowNotReached": ("job {jobId} can be settled without penalty from {availableAt_time}",
                                "retry after that time", "availableAt"),
    "NotTimedOut": ("job {jobId} has not timed out yet (deadline {deadline_time})", "retry after the deadline", "deadline"),
    "DeadlineExceeded": ("job {jobId} passed its deadline ({deadline_time})", "the job can only time out now", None),
    "JobNotInState": ("job {jobId} is in state {actual}, not {expected}", "re-read the job; someone else may have changed it", None),
    "JobNotFound": ("job {jobId} does not exist", "check the job id", None),
    "NotJobWorker": ("job {jobId} belongs to another worker", "check the worker address", None),
    "EnforcedPause": ("the network contracts are paused", "retry later", None),
    "NotAuthorized": ("caller {caller} is not authorised", "this call is reserved to the protocol", None),
    "OwnableUnauthorizedAccount": ("caller {account} is not the contract owner", "owner-only function", None),
    "TransferFailed": ("the contract could not transfer the funds", "retry; report if it persists", None),
    "EtherTransferFailed": ("the contract could not transfer the funds", "retry; report if it persists", None),
    "InsufficientFee": ("fee too low: {required_lcai} LCAI required", "pay the quoted job fee", None),
    "UnknownCapabilityBits": ("unknown capability bits {mask}", "use masks from getCapabilityMask", None),
}


def explain(err: DecodedError | None) -> tuple[str, str, int | None]:
    """(message, fix, eta) for a decoded revert."""
    if err is None:
        return "execution reverted (no reason given)", "check the worker state and retry", None
    if err.name == "Error":
        return f"execution reverted: {err.args.get('message', '')}", "check the worker state and retry", None
    if err.name == "Panic":
        return f"contract panic (code {err.args.get('code')})", "report this", None
    if not err.name:
        return f"execution reverted with unknown error {err.selector}", "the contract may have been upgraded", None
    entry = _TABLE.get(err.name)
    if entry is None:
        args = ", ".join(f"{k}={v}" for k, v in err.args.items())
        return f"{err.name}({args})", "check the worker state and retry", None
    template, fix, eta_arg = entry
    fields: dict = dict(err.args)
    for k, v in err.args.items():
        if isinstance(v, int) and not isinstance(v, bool):
            fields[f"{k}_lcai"] = format_lcai(v, None)
            if 1_000_000_000 < v < 10_000_000_000:
                fields[f"{k}_time"] = fmt_time(v)
    try:
        msg = plural_forms(template.format(**fields))
    except (KeyError, IndexError):
        msg = err.name
    eta = int(err.args[eta_arg]) if eta_arg and eta_arg in err.args else None
    return msg, fix, eta


def reverted_from_data(data: str | bytes | None, *, tx_hash: str = "", mined: bool = False) -> Reverted:
    """Build a CallReverted / TxReverted with decoded name, args, human message and ETA."""
    dec = decode_error(data)
    msg, fix, eta = explain(dec)
    cls = TxReverted if mined else CallReverted
    hexdata = data if isinstance(data, str) else ("0x" + bytes(data).hex() if data else "")
    return cls(
        msg, fix=fix, error_name=dec.name if dec else "", args=dec.args if dec else {},
        selector=dec.selector if dec else "", data=hexdata or "", eta=eta, tx_hash=tx_hash,
    )
