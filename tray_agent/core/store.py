"""Small JSON state files: atomic writes; a damaged file is moved aside and reported, never a crash loop."""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from tray_agent.common.atomic import atomic_write

log = logging.getLogger(__name__)


class JsonStore:
    """A dict persisted to ``path``. ``damaged`` holds the moved-aside file when the last load found corruption."""

    def __init__(self, path: Path, default: dict[str, Any]):
        self.path = Path(path)
        self._default = default
        self._lock = threading.RLock()
        self.damaged: Path | None = None
        self._data = self._load()

    def _load(self) -> dict[str, Any]:
        if not self.path.exists():
            return copy.deepcopy(self._default)
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data, dict):
                raise ValueError("top level is not an object")
        except (ValueError, UnicodeDecodeError, OSError) as e:
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            try:
                self.path.rename(aside)
            except OSError:
                aside = self.path
            self.damaged = aside
            log.error("state file %s was damaged (%s); kept a copy at %s and started from defaults", self.path, e, aside)
            return copy.deepcopy(self._default)
        merged = copy.deepcopy(self._default)
        merged.update(data)
        return merged

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            return copy.deepcopy(self._data.get(key, default))

    def all(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._data)

    def update(self, **changes: Any) -> dict[str, Any]:
        with self._lock:
            self._data.update(changes)
            atomic_write(self.path, json.dumps(self._data, indent=1, sort_keys=True))
            return copy.deepcopy(self._data)
