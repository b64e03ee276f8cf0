"""Minimal JSON-RPC over HTTP with real batching and typed failures (refused, timeout, junk, revert)."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import requests

from .errors import NonceConflict, RpcBadResponse, RpcError, RpcTimeout, RpcUnavailable
from .revert import reverted_from_data

NONCE_CONFLICT_MARKERS = (
    "nonce too low",
    "address already reserved",
    "replacement transaction underpriced",
    "already known",
    "known transaction",
    "nonce has already been used",
)


def _redact_url(url: str) -> str:
    """Drop userinfo and query (may hold API keys) from an RPC URL before it goes into a message."""
    from urllib.parse import urlsplit

    try:
        p = urlsplit(url)
        return f"{p.scheme}://{p.hostname}{':' + str(p.port) if p.port else ''}{p.path}"
    except ValueError:
        return "<rpc>"


def classify_error(err: dict, method: str) -> Exception:
    """Map a JSON-RPC error object to a typed exception."""
    msg = str(err.get("message", ""))
    data = err.get("data")
    low = msg.lower()
    if isinstance(data, dict):  # some nodes nest {data: {data: 0x...}}
        data = data.get("data") or data.get("result")
    if "revert" in low or err.get("code") == 3:
        return reverted_from_data(data if isinstance(data, str) and data.startswith("0x") else None)
    if any(m in low for m in NONCE_CONFLICT_MARKERS):
        return NonceConflict(msg)
    if "insufficient funds" in low:
        from .errors import InsufficientFunds

        return InsufficientFunds()
    return RpcError(f"{method} failed: {msg}", rpc_code=err.get("code"), data=data)


class RpcClient:
    """One endpoint. ``call`` raises typed errors; ``batch`` sends N calls in ONE HTTP request."""

    def __init__(self, url: str, *, timeout_s: float = 10.0, on_request: Callable[[Any], None] | None = None):
        if not url:
            raise RpcUnavailable("no RPC address is configured for this network", fix="set rpc_url for the network")
        self.url = url
        self.timeout_s = timeout_s
        self.on_request = on_request  # test hook: called once per HTTP request with the payload
        self._ids = itertools.count(1)
        self._local = threading.local()
        self.http_requests = 0

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            self._local.session = s
        return s

    def _post(self, payload: Any) -> Any:
        where = _redact_url(self.url)
        self.http_requests += 1
        if self.on_request:
            self.on_request(payload)
        try:
            resp = self._session().post(
                self.url, data=json.dumps(payload), headers={"Content-Type": "application/json"}, timeout=self.timeout_s
            )
        except requests.Timeout as e:
            raise RpcTimeout(f"the RPC at {where} did not answer within {self.timeout_s:.0f} s", url=where) from e
        except requests.RequestException as e:
            raise RpcUnavailable(f"cannot reach the chain RPC at {where} ({type(e).__name__})", url=where) from e
        if resp.status_code >= 400 and resp.status_code not in (400, 500):
            raise RpcUnavailable(f"the RPC at {where} answered HTTP {resp.status_code}", url=where)
        try:
            return resp.json()
        except ValueError as e:
            raise RpcBadResponse(
                f"the RPC at {where} did not answer with JSON-RPC (HTTP {resp.status_code})",
                fix="check the RPC address: it must be a JSON-RPC endpoint", url=where,
            ) from e

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        rid = next(self._ids)
        body = self._post({"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)})
        if not isinstance(body, dict) or ("result" not in body and "error" not in body):
            raise RpcBadResponse(f"malformed JSON-RPC answer to {method}", url=_redact_url(self.url))
        if body.get("error") is not None:
            raise classify_error(body["error"], method)
        return body["result"]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Results in order; an item that failed is returned as its typed exception (not raised)."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)} for i, (m, p) in zip(ids, calls, strict=False)]
        body = self._post(payload)
        if isinstance(body, dict) and body.get("error") is not None:
            raise classify_error(body["error"], "batch")
        if not isinstance(body, list):
            raise RpcBadResponse("the RPC did not answer the batch with a JSON array", url=_redact_url(self.url))
        by_id = {item.get("id"): item for item in body if isinstance(item, dict)}
        out: list[Any] = []
        for rid, (method, _) in zip(ids, calls, strict=False):
            item = by_id.get(rid)
            if item is None:
                raise RpcBadResponse(f"the RPC answer to the batch lacks {method}", url=_redact_url(self.url))
            if item.get("error") is not None:
                out.append(classify_error(item["error"], method))
            else:
                out.append(item.get("result"))
        return out
