"""Release check: is a newer lcai-worker-tray published? A notice only: nothing is downloaded or installed.

The release feed is one small JSON document (written by ``.github/workflows/release.yml`` next to the
release artifacts)::

    {"version": "0.2.0", "url": "https://…/releases/tag/v0.2.0", "sha256": "<64 hex>", "notes": "…"}

``url`` is where the person gets the new version (the release page, or one artifact), ``sha256`` the
SHA-256 of the release's SHA256SUMS file (or of the artifact ``url`` names), shown so a download can be
checked; ``notes`` is a short text. The release workflow publishes it as the ``release.json`` asset.

The version running is ``tray_agent.__version__`` (the single source of the version: the wheel metadata,
the PyInstaller bundle, the .deb and the installers all read it). The feed URL is, first found:
the ``feed_url`` argument, the ``LCAI_TRAY_RELEASE_FEED`` environment variable, a ``release_feed``
setting, ``core/data/release_feed.json`` (``{"url": …}``, written into release builds by the workflow);
with none, checking is off. ``https://`` only; ``http://`` is accepted for loopback hosts (tests, mirrors).

Errors (no network, HTTP error, broken or hostile feed) give *no notice* and are logged once — the
first failure at WARNING, repeats at DEBUG until a check succeeds again — because a tray that checks
daily must not fill the log while a laptop is offline. Nothing here raises to the caller.

Use from the agent/tray/dashboard::

    checker = UpdateChecker()                 # one per process
    notice = checker.check()                  # at most once per interval (24 h); force=True to bypass
    notice and notice.to_dict()               # → {"kind": "update_available", "message": …, "url": …}
    checker.dismiss(notice.latest)            # the person chose "not now" for that version
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from packaging.version import InvalidVersion, Version

from .. import __version__

log = logging.getLogger(__name__)

FEED_ENV = "LCAI_TRAY_RELEASE_FEED"
FEED_FILE = Path(__file__).resolve().parent / "data" / "release_feed.json"
CHECK_INTERVAL_S = 24 * 3600
TIMEOUT_S = 10.0
MAX_FEED_BYTES = 64 * 1024
MAX_NOTES_CHARS = 2000
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class FeedError(ValueError):
    """The feed answered, but not with a usable release document."""


def parse_version(text: str) -> Version:
    """A PEP 440 version (packaging); ValueError for anything else, including over-long text."""
    text = (text or "").strip() if isinstance(text, str) else ""
    if len(text) > 64:
        raise ValueError(f"not a version: {text[:64]!r}")
    try:
        return Version(text)
    except InvalidVersion:
        raise ValueError(f"not a version: {text!r}") from None


def is_newer(candidate: str, current: str) -> bool:
    return parse_version(candidate) > parse_version(current)


def _url_ok(url: str) -> bool:
    p = urlparse(url)
    if p.scheme == "https" and p.hostname:
        return True
    return p.scheme == "http" and (p.hostname or "") in _LOOPBACK


@dataclass(frozen=True)
class Release:
    version: str
    url: str
    sha256: str
    notes: str = ""

    @classmethod
    def from_json(cls, data: Any) -> Release:
        if not isinstance(data, dict):
            raise FeedError("release feed is not a JSON object")
        version, url, sha = data.get("version"), data.get("url"), data.get("sha256")
        notes = data.get("notes", "") or ""
        if not isinstance(version, str):
            raise FeedError("release feed has no version")
        try:
            parse_version(version)
        except ValueError as e:
            raise FeedError(str(e)) from None
        if not isinstance(url, str) or len(url) > 2048 or not _url_ok(url):
            raise FeedError("release feed url must be an https:// URL")
        if not isinstance(sha, str) or not _HEX64.match(sha):
            raise FeedError("release feed sha256 must be 64 hex digits")
        if not isinstance(notes, str):
            raise FeedError("release feed notes must be text")
        notes = "".join(c for c in notes if c == "\n" or c >= " ")[:MAX_NOTES_CHARS]
        return cls(version.strip().lstrip("vV"), url, sha.lower(), notes.strip())


@dataclass(frozen=True)
class UpdateNotice:
    """What the tray (menu line / notification) and the dashboard (banner) show. Never acted on by itself."""

    current: str
    latest: str
    url: str
    sha256: str
    notes: str = ""

    @property
    def message(self) -> str:
        return f"lcai-worker-tray {self.latest} is available (you have {self.current})."

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "update_available", "message": self.message, **asdict(self)}


def resolve_feed_url(explicit: str | None = None, settings: Mapping[str, Any] | None = None) -> str | None:
    """The configured release feed, or None (checking off). See the module docstring for the order."""
    candidates = [explicit, os.environ.get(FEED_ENV)]
    if settings is not None:
        candidates.append(settings.get("release_feed"))
    for c in candidates:
        if c and str(c).strip():
            return str(c).strip()
    try:
        data = json.loads(FEED_FILE.read_text(encoding="utf-8"))
        url = data.get("url") if isinstance(data, dict) else None
        return url.strip() if isinstance(url, str) and url.strip() else None
    except (OSError, ValueError):
        return None


class _NoDowngradeRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not _url_ok(newurl):
            raise urllib.error.URLError(f"refusing redirect to {urlparse(newurl).scheme}:// URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_release(feed_url: str, timeout: float = TIMEOUT_S) -> Release:
    """GET and validate the feed. Raises OSError (network/HTTP) or FeedError (content)."""
    if not _url_ok(feed_url):
        raise FeedError("release feed must be an https:// URL (http:// only on loopback)")
    opener = urllib.request.build_opener(_NoDowngradeRedirect())
    req = urllib.request.Request(
        feed_url, headers={"User-Agent": f"lcai-worker-tray/{__version__}", "Accept": "application/json"}
    )
    with opener.open(req, timeout=timeout) as resp:
        body = resp.read(MAX_FEED_BYTES + 1)
    if len(body) > MAX_FEED_BYTES:
        raise FeedError("release feed is larger than 64 KiB")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FeedError(f"release feed is not JSON: {e}") from None
    return Release.from_json(data)


class UpdateChecker:
    """Checks the feed at most once per ``interval`` and keeps the current notice (thread-safe)."""

    def __init__(
        self,
        feed_url: str | None = None,
        current: str = __version__,
        *,
        settings: Mapping[str, Any] | None = None,
        interval: float = CHECK_INTERVAL_S,
        timeout: float = TIMEOUT_S,
        clock: Callable[[], float] = time.time,
        fetch: Callable[[str, float], Release] = fetch_release,
    ):
        self.feed_url = resolve_feed_url(feed_url, settings)
        self.current = current
        self.interval = interval
        self.timeout = timeout
        self._clock = clock
        self._fetch = fetch
        self._lock = threading.Lock()
        self._notice: UpdateNotice | None = None
        self._last_check: float | None = None
        self._failing = False
        self._logged_disabled = False
        self._dismissed: set[str] = set()
        self.last_error: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.feed_url)

    @property
    def notice(self) -> UpdateNotice | None:
        with self._lock:
            n = self._notice
            return None if n is None or n.latest in self._dismissed else n

    def due(self) -> bool:
        with self._lock:
            return self.enabled and (self._last_check is None or self._clock() - self._last_check >= self.interval)

    def dismiss(self, version: str) -> None:
        """Hide the notice for ``version`` (a later version shows again)."""
        with self._lock:
            self._dismissed.add(version)

    def check(self, force: bool = False) -> UpdateNotice | None:
        """Return the notice to show, or None. Never raises; never downloads the release itself."""
        if not self.enabled:
            if not self._logged_disabled:
                self._logged_disabled = True
                log.info("update check off: no release feed configured (%s)", FEED_ENV)
            return None
        if not force and not self.due():
            return self.notice
        with self._lock:
            self._last_check = self._clock()
        try:
            release = self._fetch(self.feed_url, self.timeout)
            newer = is_newer(release.version, self.current)
        except (OSError, FeedError, ValueError) as e:  # URLError, HTTPError, timeouts are OSError
            self._failed(e)
            return None
        except Exception as e:  # noqa: BLE001 - an update check must never take the agent down
            self._failed(e)
            return None
        with self._lock:
            if self._failing:
                log.info("update check works again (%s)", self.feed_url)
            self._failing = False
            self.last_error = None
            self._notice = (
                UpdateNotice(self.current, release.version, release.url, release.sha256, release.notes)
                if newer
                else None
            )
        if newer:
            log.info("newer release available: %s (running %s)", release.version, self.current)
        return self.notice

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self._notice = None
            self.last_error = f"{type(exc).__name__}: {exc}"
            first = not self._failing
            self._failing = True
        level = logging.WARNING if first else logging.DEBUG
        log.log(level, "update check failed (%s): %s; no update notice", self.feed_url, self.last_error)
