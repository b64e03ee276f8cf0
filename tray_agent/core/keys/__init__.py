"""Worker key custody: keystores compatible with the official toolkit, keychain-held passwords, archive."""

from .custody import ArchivedKey, KeyCustody  # noqa: F401
from .secrets import SecretStore, open_secret_store  # noqa: F401
