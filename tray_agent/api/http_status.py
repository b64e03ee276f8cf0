"""HTTP status of an error answer, decided by the API from the error's code (core errors carry no HTTP status).

A code not listed inherits the status of the nearest base class whose code is listed; anything else is 400.
"""

from __future__ import annotations

from tray_agent.common.errors import AgentError

CODE_STATUS: dict[str, int] = {
    "not_found": 404,
    "busy": 409, "already_running": 409, "precondition_failed": 409, "writer_busy": 409, "preflight_blocked": 409,
    "deregister_scheduled": 409,
    "image_error": 502, "ollama_error": 502,
    "keychain_unavailable": 503, "docker_unavailable": 503, "rpc_unavailable": 503,
    "disk_error": 507, "disk_full": 507, "disk_read_only": 507, "permission_denied": 507,
}
DEFAULT_STATUS = 400


def status_for_code(code: str, error_type: type[AgentError] = AgentError) -> int:
    """Status for ``code``, falling back to the codes of ``error_type``'s base classes."""
    if code in CODE_STATUS:
        return CODE_STATUS[code]
    for cls in error_type.__mro__:
        base_code = cls.__dict__.get("code")
        if isinstance(base_code, str) and base_code in CODE_STATUS:
            return CODE_STATUS[base_code]
    return DEFAULT_STATUS


def status_for(err: AgentError) -> int:
    """The HTTP status of the JSON error answer for ``err``."""
    return status_for_code(err.code, type(err))
