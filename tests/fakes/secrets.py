"""An in-memory secret store with KeyCustody's store interface (tests that are not about the keychain)."""

from __future__ import annotations


class MemSecrets:
    def __init__(self) -> None:
        self.d: dict[str, str] = {}

    def set(self, name: str, value: str) -> None:
        self.d[name] = value

    def get(self, name: str) -> str | None:
        return self.d.get(name)

    def delete(self, name: str) -> None:
        self.d.pop(name, None)
