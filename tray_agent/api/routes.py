"""API routes: thin adapters from HTTP to the Agent facade (no work of their own)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tray_agent.common.errors import AgentError, NotFoundError, ValidationError

from .http_status import status_for
from .security import COOKIE, LoginCodes, error

if TYPE_CHECKING:
    from ..core.agent import Agent

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ValidationError("request body is too large", fix="send less than 64 KiB")
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("request body is not valid JSON", fix="send a JSON object") from None
    if not isinstance(data, dict):
        raise ValidationError("request body must be a JSON object", fix='e.g. {"models": ["llama3-8b"]}')
    return data


def build_routes(agent: Agent, codes: LoginCodes, port_ref: list[int]) -> list[Route]:
    def call(fn):
        """Run a blocking agent call off the event loop; map AgentError to a JSON error."""

        async def endpoint(request: Request) -> Response:
            try:
                out = await fn(request)
            except AgentError as e:
                return JSONResponse({"error": e.to_dict()}, status_code=status_for(e))
            except OSError as e:
                from tray_agent.common.errors import os_error

                err = os_error(e)
                return JSONResponse({"error": err.to_dict()}, status_code=status_for(err))
            except Exception:  # never leak internals; zero 5xx with details
                log.exception("API handler failed: %s %s", request.method, request.url.path)
                return error(500, "internal_error", "the agent hit an unexpected error", "see the agent log file")
            return out if isinstance(out, Response) else JSONResponse(out)

        return endpoint

    def blocking(f, *a):
        return asyncio.to_thread(f, *a)

    async def status(request):
        return agent.status().to_dict()

    async def events(request: Request):
        sid, q = agent.bus.subscribe_async()

        async def stream():
            try:
                yield f"event: status\ndata: {json.dumps(agent.status().to_dict())}\n\n"
                while True:
                    try:
                        ev = await asyncio.wait_for(q.get(), timeout=15)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"event: {ev.kind}\nid: {ev.seq}\ndata: {json.dumps(ev.data, default=str)}\n\n"
            finally:
                agent.bus.unsubscribe(sid)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def onboarding(request):
        return await blocking(agent.onboarding.view)

    async def onboarding_network(request):
        b = await _body(request)
        return await blocking(agent.onboarding.set_network, b.get("network"))

    async def onboarding_models(request):
        b = await _body(request)
        return await blocking(agent.onboarding.set_models, b.get("models"))

    async def onboarding_password(request):
        b = await _body(request)
        if b.get("generate") is True:
            return await blocking(agent.onboarding.set_password, None)
        pw = b.get("password")
        if not isinstance(pw, str):
            raise ValidationError("password must be a string", fix="type a password or choose 'generate'", field="password")
        return await blocking(agent.onboarding.set_password, pw)

    async def onboarding_continue(request):
        op = await blocking(agent.onboarding.continue_)
        return JSONResponse({"op_id": op.op_id}, status_code=202)

    async def hardware(request):
        return await blocking(agent.hardware_report)

    async def models(request):
        return await blocking(agent.models_view)

    async def models_fit(request):
        b = await _body(request)
        return await blocking(agent.models_fit, b.get("models"))

    async def models_demand(request):
        return await blocking(agent.demand_view, request.query_params.get("window_h"))

    async def models_suggest(request):
        return await blocking(agent.suggest_models, request.query_params.get("window_h"))

    async def op_start(request):
        kind = request.path_params["kind"]
        b = await _body(request)
        op = await blocking(agent.start_operation, kind, b)
        return JSONResponse({"op_id": op.op_id}, status_code=202)

    async def op_cancel(request):
        if not agent.runner.cancel(request.path_params["op_id"]):
            raise NotFoundError("no running operation with that id", fix="it may have finished already")
        return {"ok": True}

    async def worker_log(request):
        try:
            lines = int(request.query_params.get("lines", "200"))
        except ValueError:
            raise ValidationError("lines must be a whole number", fix="e.g. ?lines=200", field="lines") from None
        return await blocking(agent.session.worker.container_log, lines)

    async def stop_preview(request):
        return await blocking(agent.session.worker.stop_consequence)

    async def op_get(request):
        rec = agent.runner.get(request.path_params["op_id"])
        if rec is None:
            raise NotFoundError("no such operation", fix="use the op_id returned when it started")
        return rec

    async def history(request):
        kind = request.query_params.get("kind") or None
        try:
            limit = max(1, min(1000, int(request.query_params.get("limit", "100"))))
        except ValueError:
            raise ValidationError("limit must be a whole number", fix="e.g. ?limit=50", field="limit") from None
        return {"items": await blocking(agent.history.operations, kind, None, limit)}

    async def history_csv(request):
        text = await blocking(agent.history_csv)
        return PlainTextResponse(text, media_type="text/csv",
                                 headers={"Content-Disposition": 'attachment; filename="lcai-worker-history.csv"'})

    async def earnings(request):
        return await blocking(agent.earnings_view)

    async def jobs(request):
        return await blocking(agent.jobs_view)

    async def stuck(request):
        return await blocking(agent.stuck_view)

    async def withdraw_preview(request):
        q = request.query_params
        return await blocking(agent.withdraw_preview, q.get("to", ""), q.get("amount", ""))

    async def keys(request):
        return await blocking(agent.keys_view)

    async def network(request):
        """The running network's constants; ``assumed`` lists the values not confirmed (Settings shows them)."""
        return agent.network.to_public_dict()

    async def keys_export(request):
        b = await _body(request)
        dest, with_pw = b.get("dest"), b.get("include_password", False)
        if not isinstance(dest, str) or not dest.strip():
            raise ValidationError("dest must be a folder path", fix="name an empty or new folder", field="dest")
        if not isinstance(with_pw, bool):
            raise ValidationError("include_password must be true or false", field="include_password")
        return await blocking(agent.export_keys, dest.strip(), with_pw)

    async def settings_get(request):
        return agent.settings.all()

    async def settings_post(request):
        b = await _body(request)
        return await blocking(agent.update_settings, b)

    async def autosettle_get(request):
        return await blocking(agent.autosettle.view)

    async def autosettle_post(request):
        return await blocking(agent.autosettle.update, await _body(request))

    async def autosettle_address(request):
        b = await _body(request)
        return await blocking(agent.autosettle.confirm_address, b.get("address"), b.get("confirm"))

    async def autosettle_pause(request):
        b = await _body(request)
        return await blocking(agent.autosettle.set_paused, b.get("paused", True))

    async def login_code(request):
        code = codes.issue()
        nxt = request.query_params.get("next", "/ui/dashboard.html")
        return {"code": code, "url": f"http://127.0.0.1:{port_ref[0]}/auth?code={code}&next={quote(nxt)}"}

    async def auth(request: Request):
        code = request.query_params.get("code", "")
        nxt = request.query_params.get("next", "/ui/dashboard.html")
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/ui/dashboard.html"
        if not codes.redeem(code):
            return error(401, "bad_login_code", "this login link is invalid or expired",
                         "open the dashboard again from the tray or with 'lcai-tray open'")
        resp = RedirectResponse(nxt, status_code=303)
        resp.set_cookie(COOKIE, agent.api_token, httponly=True, samesite="strict", path="/")
        return resp

    async def shutdown(request):
        b = await _body(request)
        keep = b.get("keep_worker", True)
        if not isinstance(keep, bool):
            raise ValidationError("keep_worker must be true or false", field="keep_worker")
        asyncio.get_running_loop().call_later(0.2, agent.request_shutdown, keep)
        return {"ok": True, "keep_worker": keep}

    async def root(request):
        target = "/ui/onboarding.html" if not agent.onboarding.done else "/ui/dashboard.html"
        return RedirectResponse(target, status_code=303)

    from .machine_route import machine_route
    from .preflight_route import preflight_route

    R = Route
    return [
        preflight_route(agent.preflight),
        machine_route(agent),
        R("/", call(root)),
        R("/auth", call(auth)),
        R("/api/status", call(status)),
        R("/api/events", events),
        R("/api/onboarding", call(onboarding)),
        R("/api/onboarding/network", call(onboarding_network), methods=["POST"]),
        R("/api/onboarding/models", call(onboarding_models), methods=["POST"]),
        R("/api/onboarding/password", call(onboarding_password), methods=["POST"]),
        R("/api/onboarding/continue", call(onboarding_continue), methods=["POST"]),
        R("/api/hardware", call(hardware)),
        R("/api/models", call(models)),
        R("/api/models/fit", call(models_fit), methods=["POST"]),
        R("/api/models/demand", call(models_demand)),
        R("/api/models/suggest", call(models_suggest)),
        R("/api/ops/{kind}", call(op_start), methods=["POST"]),
        R("/api/ops/{op_id}", call(op_get)),
        R("/api/ops/{op_id}/cancel", call(op_cancel), methods=["POST"]),
        R("/api/stop/preview", call(stop_preview)),
        R("/api/worker/log", call(worker_log)),
        R("/api/history", call(history)),
        R("/api/history.csv", call(history_csv)),
        R("/api/earnings", call(earnings)),
        R("/api/jobs", call(jobs)),
        R("/api/stuck", call(stuck)),
        R("/api/withdraw/preview", call(withdraw_preview)),
        R("/api/keys", call(keys)),
        R("/api/keys/export", call(keys_export), methods=["POST"]),
        R("/api/network", call(network)),
        R("/api/settings", call(settings_get)),
        R("/api/settings", call(settings_post), methods=["POST"]),
        R("/api/autosettle", call(autosettle_get)),
        R("/api/autosettle", call(autosettle_post), methods=["POST"]),
        R("/api/autosettle/address", call(autosettle_address), methods=["POST"]),
        R("/api/autosettle/pause", call(autosettle_pause), methods=["POST"]),
        R("/api/login-code", call(login_code), methods=["POST"]),
        R("/api/shutdown", call(shutdown), methods=["POST"]),
    ]
