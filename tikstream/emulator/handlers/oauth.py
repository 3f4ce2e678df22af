"""OAuth: ``GET /portal/auth``, ``POST /oauth2/access_token/``, ``GET /oauth2/advertiser/get/`` (§4.1, §4.3).

The consent page consents at once: it redirects to ``redirect_uri?auth_code=X&code=X&state=S``. The code is
single-use and valid one hour; exchanging it mints a ``tiktok_signin`` token for ``--advertiser-ids``.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tikstream.emulator.context import Emulator, emulator
from tikstream.emulator.envelope import INVALID_APP, ApiError
from tikstream.emulator.params import json_body, req_str
from tikstream.emulator.tokens import SIGNIN, Grant, allow_advertiser_listing

SCOPES = [4, 5, 6]


async def portal_auth(request: web.Request) -> web.StreamResponse:
    emu = emulator(request)
    app_id, redirect_uri = request.query.get("app_id"), request.query.get("redirect_uri")
    if app_id != emu.options.app_id:
        return web.Response(status=400, text=f"unknown app_id {app_id!r}")
    if not redirect_uri:
        return web.Response(status=400, text="redirect_uri is required")
    code = emu.auth_codes.issue(app_id)
    params = {"auth_code": code, "code": code}
    if "state" in request.query:
        params["state"] = request.query["state"]
    separator = "&" if "?" in redirect_uri else "?"
    raise web.HTTPFound(f"{redirect_uri}{separator}{urlencode(params)}")


def _check_app(emu: Emulator, app_id: str | None, secret: str | None, grant: Grant | None = None) -> None:
    expected = (emu.options.app_id, emu.options.app_secret)
    if grant is not None and grant.app_id is not None:
        expected = (grant.app_id, grant.secret or emu.options.app_secret)
    if (app_id, secret) != expected:
        raise ApiError(INVALID_APP, "Invalid app_id or secret.")


async def access_token(request: web.Request, emu: Emulator) -> dict[str, Any]:
    body = json_body(await request.read())
    app_id, secret = req_str(body, "app_id"), req_str(body, "secret")
    code = req_str(body, "auth_code")
    _check_app(emu, app_id, secret)
    emu.auth_codes.redeem(code, app_id)
    token = secrets.token_hex(20)
    advertisers = list(emu.options.advertiser_ids)
    emu.tokens.add(token, Grant(kind=SIGNIN, advertiser_ids=frozenset(advertisers), app_id=app_id, secret=secret))
    data: dict[str, Any] = {"access_token": token, "scope": SCOPES}
    if body.get("return_advertiser_ids", True) is not False:
        data["advertiser_ids"] = advertisers
    return data


async def advertisers(request: web.Request, emu: Emulator) -> dict[str, Any]:
    grant = emu.grant(request)
    allow_advertiser_listing(grant)
    _check_app(emu, request.query.get("app_id"), request.query.get("secret"), grant)
    ids = sorted(grant.advertiser_ids) if grant.advertiser_ids is not None else emu.options.advertiser_ids
    return {"list": [{"advertiser_id": i, "advertiser_name": f"Emulator advertiser {i}"} for i in ids]}
