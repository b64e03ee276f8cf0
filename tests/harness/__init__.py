"""One agent harness for every test that runs a real agent process (see ``tests.harness.agent``)."""

from tests.harness.agent import (
    ETHER,
    FINAL_OP_STATES,
    MODEL,
    PASSWORD,
    PYTHON,
    ROOT,
    AgentDied,
    AgentProc,
    Chain,
    docker_client_or_none,
    make_releasable,
    online_agent,
    tree_hashes,
    user_wallet_received,
    wait_op,
    wait_until,
)
from tests.harness.client import ApiClient, ApiError, ApiResult, is_ready, read_api_file

__all__ = [
    "ETHER", "FINAL_OP_STATES", "MODEL", "PASSWORD", "PYTHON", "ROOT", "AgentDied", "AgentProc", "ApiClient",
    "ApiError", "ApiResult", "Chain", "docker_client_or_none", "is_ready", "make_releasable", "online_agent",
    "read_api_file",
    "tree_hashes", "user_wallet_received", "wait_op", "wait_until",
]
