"""Token, Host and Origin checks (DNS rebinding and cross-site requests), plus one-time login codes."""

from __future__ import annotations

import hmac
import secrets
import threading
import time

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

COOKIE = "lcai_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CODE_TTL_S = 60
# Own origin only; no inline script, no eval (no 'unsafe-inline' / 'unsafe-eval' for scripts); no plugins, no
# framing, no <base> hijack. Style *attributes* are still allowed: a few pages set style="…" (see STYLE_ATTR_NOTE);
# drop "style-src-attr 'unsafe-inline'" once they use classes. Styles from other origins stay refused.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
STYLE_ATTR_NOTE = "fund.html, settings.html, withdraw.html style attributes; onboarding.js and picker.js el(…{style})"
LOGIN_NEEDED_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in link needed</title>
<meta name="viewport" content="width=device-width,initial-scale=1"></head>
<body style="font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em;line-height:1.5">
<h1>This dashboard needs a fresh sign-in link</h1>
<p>For your safety the worker dashboard only opens through a one-time link.</p>
<ul><li>Desktop: choose <b>Open dashboard</b> in the tray menu.</li>
<li>Terminal or server: run <code>lcai-tray open</code> (or <code>lcai-tray open --print-url</code> over SSH)
and open the link it prints within 60 seconds.</li></ul></body></html>"""


def error(status: int, code: str, message: str, fix: str = "") -> JSONResponse:
    body = {"code": code, "message": message}
    if fix:
        body["fix"] = fix
    return JSONResponse({"error": body}, status_code=status)


class LoginCodes:
    """One-time codes that a window or browser trades for the session cookie (the token never goes on argv)."""

    def __init__(self) -> None:
        self._codes: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            now = time.time()
            self._codes = {c: t for c, t in self._codes.items() if t > now}
            self._codes[code] = now + CODE_TTL_S
        return code

    def redeem(self, code: str) -> bool:
        with self._lock:
            expiry = self._codes.pop(code, None)
        return expiry is not None and expiry > time.time()


def security_headers(response: Response) -> Response:
    """Headers every answer carries: the CSP above, no caching, no sniffing, no referrer, no framing."""
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


class SecurityMiddleware(BaseHTTPMiddleware):
    def __init__(self, app, *, token: str, port_ref: list[int]):
        super().__init__(app)
        self.token = token
        self.port_ref = port_ref  # filled in once the socket is bound

    def _allowed_hosts(self) -> set[str]:
        port = self.port_ref[0]
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    def _authorized(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and hmac.compare_digest(auth[7:].strip(), self.token):
            return True
        cookie = request.cookies.get(COOKIE, "")
        return bool(cookie) and hmac.compare_digest(cookie, self.token)

    async def dispatch(self, request: Request, call_next):
        return security_headers(await self._checked(request, call_next))

    async def _checked(self, request: Request, call_next) -> Response:
        host = request.headers.get("host", "")
        if host not in self._allowed_hosts():
            return error(421, "bad_host", "this API only answers to 127.0.0.1 or localhost",
                         "open the address printed by 'lcai-tray open' (DNS names are refused)")
        origin = request.headers.get("origin")
        if request.method not in SAFE_METHODS and origin is not None:
            if origin.rstrip("/") not in {f"http://{h}" for h in self._allowed_hosts()}:
                return error(403, "bad_origin", "cross-origin requests are refused", "use the dashboard served by the agent")
        if request.url.path in ("/auth", "/favicon.ico"):
            return await call_next(request)
        if not self._authorized(request):
            if request.method == "GET" and request.url.path.startswith("/ui/"):
                return HTMLResponse(LOGIN_NEEDED_PAGE, status_code=401)
            return error(401, "unauthorized", "missing or wrong API token",
                         "open the dashboard with 'lcai-tray open' or from the tray menu")
        if request.method not in SAFE_METHODS and origin is None and COOKIE in request.cookies \
                and not request.headers.get("authorization"):
            # browsers always send Origin on cross-site POSTs; a cookie-only POST without one is refused
            return error(403, "bad_origin", "state-changing requests from a browser need an Origin header")
        return await call_next(request)
