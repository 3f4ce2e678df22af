"""The aiohttp application: TikTok's paths under ``/open_api/v1.3`` plus ``/portal/auth`` and ``/_emulator``.

Every API path ends in ``/``; the same path without it is an HTTP 404 "page not found" (docs/tiktok-api.md §1.1).
An API handler returns the envelope's ``data`` or raises ``ApiError``; ``api()`` turns that into TikTok's
envelope with HTTP 200, deals the request's fault first (so a faulted request changes nothing), and logs it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from tikstream.emulator.checkpool import MAX_BODY_BYTES, TrackChecker
from tikstream.emulator.context import EMULATOR, EVENTS_KEY, Emulator
from tikstream.emulator.envelope import (
    MSG_OK,
    MSG_SYSTEM_ERROR,
    MSG_THROTTLED,
    OK,
    SYSTEM_ERROR,
    THROTTLED,
    ApiError,
    encode,
)
from tikstream.emulator.faults import Fault
from tikstream.emulator.handlers import admin, dmp, events, oauth, segment
from tikstream.emulator.options import EmulatorOptions

API_PREFIX: Final = "/open_api/v1.3"

ApiHandler = Callable[[web.Request, Emulator], Awaitable[Any]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: bytes, status: int, request_id: str) -> web.Response:
    headers = {"X-TT-LOGID": request_id, "x-tt-trace-id": request_id}
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


async def _answer(
    request: web.Request, emu: Emulator, handler: ApiHandler, request_id: str
) -> tuple[int, int | None, bytes]:
    """(HTTP status, envelope code, body) for one API request, faults first."""
    decision = emu.faults.decide()
    if decision.delay_s:
        await asyncio.sleep(decision.delay_s)
    if decision.fault is Fault.TIMEOUT:
        return 504, None, b"gateway timeout"
    if decision.fault is Fault.HTTP_500:
        return 500, None, b"internal server error"
    if decision.fault is Fault.THROTTLE:
        return 200, THROTTLED, encode(THROTTLED, MSG_THROTTLED, request_id, {})
    if decision.fault is Fault.CODE_50000:
        return 200, SYSTEM_ERROR, encode(SYSTEM_ERROR, MSG_SYSTEM_ERROR, request_id, {})
    try:
        data = await handler(request, emu)
    except ApiError as error:
        return 200, error.code, encode(error.code, error.message, request_id, {})
    return 200, OK, encode(OK, MSG_OK, request_id, data)


def api(handler: ApiHandler) -> Handler:
    """An aiohttp handler answering TikTok's envelope around ``handler``."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        emu = request.app[EMULATOR]
        started, received_at, request_id = time.perf_counter(), emu.clock.now(), emu.ids.next()
        status, code, body = await _answer(request, emu, handler, request_id)
        duration_ms = (time.perf_counter() - started) * 1000.0
        emu.log.record(request.method, request.path, status, code, request.get(EVENTS_KEY, 0), received_at, duration_ms)
        if status != 200:
            return web.Response(body=body, status=status, content_type="text/plain")
        return _json(body, 200, request_id)

    return wrapped


@web.middleware
async def not_found(request: web.Request, handler: Handler) -> web.StreamResponse:
    """TikTok's bare HTTP errors for unknown paths (a path without its trailing slash) and wrong methods."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status not in (404, 405):
            raise
        emu = request.app[EMULATOR]
        emu.log.record(request.method, request.path, exc.status, None, 0, emu.clock.now(), 0.0)
        text = "404 page not found" if exc.status == 404 else "405 method not allowed"
        return web.Response(text=text, status=exc.status)


_API_ROUTES: Final[tuple[tuple[str, str, ApiHandler], ...]] = (
    ("POST", "/event/track/", events.track),
    ("POST", "/dmp/custom_audience/file/upload/", dmp.upload),
    ("POST", "/dmp/custom_audience/create/", dmp.create),
    ("POST", "/dmp/custom_audience/update/", dmp.update),
    ("GET", "/dmp/custom_audience/get/", dmp.get),
    ("GET", "/dmp/custom_audience/list/", dmp.listing),
    ("POST", "/dmp/custom_audience/delete/", dmp.delete),
    ("POST", "/segment/audience/", segment.audience),
    ("POST", "/segment/mapping/", segment.mapping),
    ("POST", "/oauth2/access_token/", oauth.access_token),
    ("GET", "/oauth2/advertiser/get/", oauth.advertisers),
)


def create_app(options: EmulatorOptions, checker: TrackChecker | None = None) -> web.Application:
    """The emulator as an aiohttp application (not yet serving); track bodies are checked by ``checker``
    (default: in the serving process)."""
    app = web.Application(middlewares=[not_found], client_max_size=MAX_BODY_BYTES)
    app[EMULATOR] = Emulator(options, checker)
    for method, path, handler in _API_ROUTES:
        app.router.add_route(method, API_PREFIX + path, api(handler))
    app.router.add_get("/portal/auth", oauth.portal_auth)
    for method, path, plain in admin.ROUTES:
        app.router.add_route(method, path, plain)
    return app
