"""Every on-chain operation: plain functions with a progress callback, returning a result with to_dict()."""

from .common import parse_lcai, validate_destination
from .context import OpContext, Progress, no_progress
from .deregister import DeregisterResult, deregister, deregister_eta
from .earnings import EarningsResult, earnings
from .register import RegisterResult, register
from .selfcheck import SelfCheckResult, protocol_self_check
from .served_models import ModelsResult, change_models, check_models_allowed, current_models
from .settle import SettleResult, settle
from .stake import StakeResult, reinstate, top_up
from .stuck import StuckJob, StuckResult, clear_stuck_jobs, find_stuck_jobs
from .withdraw import WithdrawResult, withdraw_native

__all__ = [
    "DeregisterResult", "EarningsResult", "ModelsResult", "OpContext", "Progress", "RegisterResult",
    "SelfCheckResult", "SettleResult", "StakeResult", "StuckJob", "StuckResult", "WithdrawResult",
    "change_models", "check_models_allowed", "clear_stuck_jobs", "current_models", "deregister", "deregister_eta",
    "earnings", "find_stuck_jobs", "no_progress", "parse_lcai", "protocol_self_check", "register", "reinstate",
    "settle", "top_up", "validate_destination", "withdraw_native",
]
