"""Per-profile paths (platformdirs). A profile isolates data, config, keyring names, containers and locks."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .errors import ValidationError

APP_NAME = "lcai-worker-tray"
DEFAULT_PROFILE = "default"
PROFILE_ENV = "LCAI_TRAY_PROFILE"
HOME_ENV = "LCAI_TRAY_HOME"  # one root for everything (tests, portable installs)
_PROFILE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def validate_profile(name: str) -> str:
    if not _PROFILE_RE.match(name or ""):
        raise ValidationError(
            f"profile name {name!r} is not valid",
            fix="use 1-32 lower-case letters, digits, '-' or '_' (e.g. 'default', 'dev')",
            field="profile",
        )
    return name


@dataclass(frozen=True)
class Paths:
    """All on-disk locations of one profile."""

    profile: str
    data: Path
    config: Path
    logs: Path
    runtime: Path

    @classmethod
    def for_profile(cls, profile: str | None = None) -> Paths:
        profile = validate_profile(profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE)
        root = os.environ.get(HOME_ENV)
        if root:
            base = Path(root) / profile
            return cls(profile, base / "data", base / "config", base / "logs", base / "run")
        return cls(
            profile,
            Path(platformdirs.user_data_dir(APP_NAME)) / profile,
            Path(platformdirs.user_config_dir(APP_NAME)) / profile,
            Path(platformdirs.user_log_dir(APP_NAME)) / profile,
            _runtime_root() / profile,
        )

    def network_dir(self, network: str) -> Path:
        """Per-network state: keys, worker state files, history."""
        return self.data / "networks" / network

    def key_dir(self, network: str) -> Path:
        """The active worker key directory mounted into the container."""
        return self.network_dir(network) / "keys"

    def archive_dir(self, network: str) -> Path:
        return self.network_dir(network) / "archive"

    def worker_dir(self, network: str, address: str) -> Path:
        """One directory per (network, worker address) (toolkit.md §5.7): that worker's own state."""
        addr = (address or "").lower()
        if not re.fullmatch(r"0x[0-9a-f]{40}", addr):
            raise ValidationError(f"{address!r} is not a worker address", fix="use the 0x… address of the key",
                                  field="address")
        return self.network_dir(network) / "workers" / addr

    def worker_state_dir(self, network: str, address: str) -> Path:
        """Session store, release state and sortition cursors of one worker (mounted into its container)."""
        return self.worker_dir(network, address) / "state"

    @property
    def networks_override(self) -> Path:
        return self.config / "networks.json"

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def lock_file(self) -> Path:
        return self.runtime / "agent.lock"

    @property
    def api_file(self) -> Path:
        """Port and per-run token of the running agent (mode 0600)."""
        return self.runtime / "api.json"

    def ensure(self) -> Paths:
        for p in (self.data, self.config, self.logs, self.runtime):
            p.mkdir(parents=True, exist_ok=True)
            os.chmod(p, 0o700)
        return self

    def keyring_service(self, network: str) -> str:
        """Keychain service name, unique per profile and network."""
        return f"{APP_NAME}.{self.profile}.{network}"

    def container_name(self, network: str) -> str:
        """Docker container name: the toolkit's own name (``lightchain-worker``) on the default profile — one
        worker per machine whatever the network —, suffixed with network and profile otherwise."""
        return "lightchain-worker" if self.profile == DEFAULT_PROFILE else f"lightchain-worker-{network}-{self.profile}"


def machine_profiles() -> list[str]:
    """Every profile on this machine for this user: a data folder or a running agent's run folder (sorted, the
    default profile first). Under ``LCAI_TRAY_HOME`` the profiles are its sub-folders."""
    root = os.environ.get(HOME_ENV)
    if root:  # <root>/<profile>/{data,run}; other folders there (secrets, logs of tests) are no profiles
        parents, marks = [Path(root)], ("data", "run")
    else:
        parents, marks = [Path(platformdirs.user_data_dir(APP_NAME)), _runtime_root()], ()
    names: set[str] = set()
    for parent in parents:
        try:
            names |= {p.name for p in parent.iterdir() if p.is_dir() and _PROFILE_RE.match(p.name)
                      and (not marks or any((p / m).is_dir() for m in marks))}
        except OSError:
            continue
    return sorted(names, key=lambda n: (n != DEFAULT_PROFILE, n))


def _runtime_root() -> Path:
    import warnings

    try:
        with warnings.catch_warnings():  # no XDG_RUNTIME_DIR (SSH, containers): fall back quietly
            warnings.simplefilter("ignore")
            rt = None if not os.environ.get("XDG_RUNTIME_DIR") and sys.platform.startswith("linux") \
                else platformdirs.user_runtime_dir(APP_NAME, ensure_exists=False)
    except Exception:  # pragma: no cover - platform without a runtime dir
        rt = None
    if rt and os.access(Path(rt).parent, os.W_OK):
        return Path(rt)
    return Path(platformdirs.user_cache_dir(APP_NAME)) / "run"
