"""Compatibility module: the agent harness moved to :mod:`tests.harness` (one harness, one client, one "ready").

Kept so existing imports (tests/faults, tests/badinput, benchmarks) keep working; new code imports tests.harness.
"""

from tests.harness.agent import (  # noqa: F401
    ETHER,
    MODEL,
    PASSWORD,
    PYTHON,
    ROOT,
    AgentDied,
    AgentProc,
    Chain,
    docker_client_or_none,
    make_releasable,
    tree_hashes,
    user_wallet_received,
    wait_op,
    wait_until,
)
from tests.harness.client import ApiClient, ApiError, ApiResult  # noqa: F401
from tests.polling import poll  # noqa: F401
