"""The job deadline a worker has after acknowledging: the chain's completion timeout (never a 120 s default)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tray_agent.common.errors import AgentError

if TYPE_CHECKING:
    from .chain.client import ChainClient


def completion_timeout_s(chain: ChainClient) -> float:
    """AIConfig.getCompletionTimeout() in seconds; AgentError ``deadline_unknown`` when it cannot be read."""
    try:
        value = int(chain.call(chain.ai_config, "getCompletionTimeout"))
    except AgentError as e:
        value, why = 0, e.message
    else:
        why = f"the chain reports {value} s"
    if value <= 0:
        raise AgentError(f"cannot read the job deadline from the chain: {why}", code="deadline_unknown",
                         fix="check the RPC connection, then run the speed test again")
    return float(value)
