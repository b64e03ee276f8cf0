"""tray_agent.core.updates against a real local HTTP feed (http.server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tray_agent import __version__
from tray_agent.core import updates
from tray_agent.core.updates import (
    FeedError,
    Release,
    UpdateChecker,
    is_newer,
    parse_version,
    resolve_feed_url,
)

SHA = hashlib.sha256(b"artifact").hexdigest()


class Feed:
    """A local release feed whose answer each test sets: (status, body bytes, extra headers)."""

    def __init__(self):
        self.status = 200
        self.body = b"{}"
        self.headers: dict[str, str] = {}
        self.hits = 0
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                feed.hits += 1
                self.send_response(feed.status)
                for k, v in feed.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(feed.body)))
                self.end_headers()
                self.wfile.write(feed.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/release.json"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def release(self, version: str, **over):
        doc = {"version": version, "url": "https://example.org/releases/v" + version, "sha256": SHA,
               "notes": "Fixes and improvements."}
        doc.update(over)
        self.status, self.body = 200, json.dumps(doc).encode()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed():
    f = Feed()
    yield f
    f.close()


def bump(v: str) -> str:
    parts = [int(p) for p in v.split(".")[:3]]
    parts[1] += 1
    return f"{parts[0]}.{parts[1]}.0"


def test_newer_release_gives_a_notice(feed):
    latest = bump(__version__)
    feed.release(latest)
    notice = UpdateChecker(feed.url).check()
    assert notice is not None
    assert (notice.current, notice.latest, notice.sha256) == (__version__, latest, SHA)
    d = notice.to_dict()
    assert d["kind"] == "update_available" and latest in d["message"] and __version__ in d["message"]
    json.dumps(d)  # the dashboard gets it as JSON


def test_same_or_older_release_gives_none(feed):
    c = UpdateChecker(feed.url)
    feed.release(__version__)
    assert c.check(force=True) is None
    feed.release("0.0.1")
    assert c.check(force=True) is None
    feed.release("v" + __version__)  # a tag-style version is the same version
    assert c.check(force=True) is None


@pytest.mark.parametrize(
    "body",
    [
        b"<html>not json</html>",
        b"[1, 2]",
        json.dumps({"version": "9.0.0", "url": "https://x.org/r", "sha256": "abc"}).encode(),
        json.dumps({"version": "9.0.0", "url": "http://evil.example/r", "sha256": SHA}).encode(),
        json.dumps({"version": "9.0.0", "url": "javascript:alert(1)", "sha256": SHA}).encode(),
        json.dumps({"version": "nine", "url": "https://x.org/r", "sha256": SHA}).encode(),
        json.dumps({"url": "https://x.org/r", "sha256": SHA}).encode(),
        b"\xff\xfe",
        b"{" + b" " * (updates.MAX_FEED_BYTES + 10) + b"}",
    ],
    ids=["html", "list", "short-sha", "http-url", "js-url", "bad-version", "no-version", "binary", "oversize"],
)
def test_broken_feed_gives_no_notice(feed, body):
    feed.status, feed.body = 200, body
    assert UpdateChecker(feed.url).check() is None


def test_http_error_and_network_down_give_none_and_log_once(feed, caplog):
    feed.status, feed.body = 500, b"oops"
    c = UpdateChecker(feed.url)
    with caplog.at_level(logging.DEBUG, logger="tray_agent.core.updates"):
        for _ in range(3):
            assert c.check(force=True) is None
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "500" in warnings[0].getMessage()
    assert c.last_error

    caplog.clear()
    feed.release(bump(__version__))  # it works again: notice, and a new failure is logged again
    assert c.check(force=True) is not None
    feed.close()  # the server is gone: connection refused
    with caplog.at_level(logging.DEBUG, logger="tray_agent.core.updates"):
        assert c.check(force=True) is None
        assert c.check(force=True) is None
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
    assert c.notice is None  # an error clears the notice: no stale "update available"
    feed.server = _Closed()


class _Closed:
    def shutdown(self):
        pass

    def server_close(self):
        pass


def test_checks_at_most_once_per_interval_and_dismiss(feed):
    now = [1000.0]
    feed.release(bump(__version__))
    c = UpdateChecker(feed.url, interval=3600, clock=lambda: now[0])
    assert c.due()
    assert c.check() is not None and feed.hits == 1
    assert c.check() is not None and feed.hits == 1  # cached notice, no request
    now[0] += 3601
    assert c.check() is not None and feed.hits == 2
    c.dismiss(bump(__version__))
    assert c.notice is None and c.check(force=True) is None
    feed.release(bump(bump(__version__)))  # a later version shows again
    assert c.check(force=True) is not None


def test_no_feed_means_off(monkeypatch, tmp_path, caplog):
    monkeypatch.delenv(updates.FEED_ENV, raising=False)
    monkeypatch.setattr(updates, "FEED_FILE", tmp_path / "absent.json")
    c = UpdateChecker()
    assert not c.enabled and not c.due()
    with caplog.at_level(logging.INFO, logger="tray_agent.core.updates"):
        assert c.check() is None and c.check() is None
    assert len(caplog.records) == 1


def test_feed_url_resolution_order(monkeypatch, tmp_path):
    packaged = tmp_path / "release_feed.json"
    packaged.write_text(json.dumps({"url": "https://packaged.example/release.json"}))
    monkeypatch.setattr(updates, "FEED_FILE", packaged)
    monkeypatch.delenv(updates.FEED_ENV, raising=False)
    assert resolve_feed_url() == "https://packaged.example/release.json"
    assert resolve_feed_url(settings={"release_feed": "https://settings.example/f"}) == "https://settings.example/f"
    monkeypatch.setenv(updates.FEED_ENV, "https://env.example/f")
    assert resolve_feed_url(settings={"release_feed": "https://settings.example/f"}) == "https://env.example/f"
    assert resolve_feed_url("https://arg.example/f") == "https://arg.example/f"


def test_plain_http_feed_only_on_loopback():
    c = UpdateChecker("http://updates.example.org/release.json")
    assert c.check() is None and "https" in (c.last_error or "")


def test_redirect_to_plain_http_is_refused(feed):
    feed.status, feed.body = 302, b""
    feed.headers = {"Location": "http://insecure.example.org/release.json"}
    c = UpdateChecker(feed.url)
    assert c.check() is None and "redirect" in (c.last_error or "")


def test_release_parsing_and_versions():
    r = Release.from_json({"version": "v1.2.3", "url": "https://x.org/r", "sha256": SHA.upper(),
                           "notes": "line\x00one\nline two"})
    assert r.version == "1.2.3" and r.sha256 == SHA and r.notes == "lineone\nline two"
    with pytest.raises(FeedError):
        Release.from_json({"version": "1.0", "url": "https://x.org", "sha256": SHA, "notes": 5})
    assert is_newer("0.2.0", "0.1.9") and is_newer("1.0.0", "1.0.0rc2") and is_newer("1.0.0rc2", "1.0.0rc1")
    assert is_newer("1.0.0.post1", "1.0.0") and is_newer("1.0.0a1", "1.0.0.dev5") and is_newer("0.10", "0.9.9")
    assert not is_newer("1.0", "1.0.0")
    with pytest.raises(ValueError):
        parse_version("1.0; rm -rf /")
    parse_version(__version__)  # the running version itself parses
