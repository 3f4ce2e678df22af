"""The customer-file audience endpoints ``/dmp/custom_audience/*`` (docs/tiktok-api.md §2.1-§2.8).

Every call needs a token that may manage the request's ``advertiser_id`` (a ``tiktok_signin``, scoped to its
``advertiser_ids`` when it has them). ``update`` without ``action`` replaces, as TikTok does (§2.5).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Final

from aiohttp import web

from tikstream.emulator.audiences import ACTIONS, history_item
from tikstream.emulator.context import Emulator
from tikstream.emulator.envelope import FILE_MISSING, ApiError, invalid
from tikstream.emulator.files import check_file
from tikstream.emulator.formats import CREATE_TYPES
from tikstream.emulator.params import (
    MISSING,
    int_in,
    json_body,
    one_of,
    opt_bool,
    opt_str,
    query_list,
    req_str,
    str_list,
)
from tikstream.emulator.tokens import allow_advertiser

SUB_TYPES: Final = ("NORMAL", "REACH_FREQUENCY")
MAX_NAME: Final = 128


async def upload(request: web.Request, emu: Emulator) -> dict[str, Any]:
    grant = emu.grant(request)
    if not request.content_type.startswith("multipart/form-data"):
        raise invalid("Content-Type", "Must be multipart/form-data")
    form = await request.post()
    advertiser_id = req_str(form, "advertiser_id")
    allow_advertiser(grant, advertiser_id)
    calculate_type = req_str(form, "calculate_type")
    signature = req_str(form, "file_signature")
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise ApiError(FILE_MISSING, f"file: {MISSING}")
    content = upload.file.read()
    hashes = check_file(calculate_type, upload.filename, content, signature)
    name = form.get("file_name") or form.get("name") or upload.filename
    stored = emu.files.add(
        advertiser_id, calculate_type, str(name), hashlib.md5(content).hexdigest(), len(content), hashes
    )
    return {"file_path": stored.file_path}


async def create(request: web.Request, emu: Emulator) -> dict[str, Any]:
    grant = emu.grant(request)
    body = json_body(await request.read())
    advertiser_id = req_str(body, "advertiser_id")
    allow_advertiser(grant, advertiser_id)
    name = req_str(body, "custom_audience_name", MAX_NAME)
    calculate_type = one_of(req_str(body, "calculate_type"), "calculate_type", CREATE_TYPES)
    paths = str_list(body.get("file_paths"), "file_paths", 1, 500)
    raw_retention = body.get("retention_in_days")
    retention = None if raw_retention is None else int_in(raw_retention, "retention_in_days", 1, 365, 365)
    sub_type = one_of(opt_str(body, "audience_sub_type") or "NORMAL", "audience_sub_type", SUB_TYPES)
    enhancement = bool(opt_bool(body, "audience_enhancement"))
    files = emu.files.resolve(advertiser_id, paths, calculate_type, emu.audiences.rules.file_ttl_seconds)
    audience = emu.audiences.create(advertiser_id, name, calculate_type, files, retention)
    audience.sub_type, audience.enhancement = sub_type, enhancement
    return {"custom_audience_id": audience.audience_id}


async def update(request: web.Request, emu: Emulator) -> dict[str, Any]:
    grant = emu.grant(request)
    body = json_body(await request.read())
    advertiser_id = req_str(body, "advertiser_id")
    allow_advertiser(grant, advertiser_id)
    audience_id = req_str(body, "custom_audience_id")
    has_name = body.get("custom_audience_name") is not None
    name = req_str(body, "custom_audience_name", MAX_NAME) if has_name else None
    raw_paths = body.get("file_paths")
    paths = None if raw_paths is None else str_list(raw_paths, "file_paths", 1, 500)
    action = one_of(opt_str(body, "action") or "REPLACE", "action", ACTIONS)
    sub_type = opt_str(body, "audience_sub_type")
    if name is None and paths is None and sub_type is None:
        raise invalid("file_paths", "custom_audience_name or file_paths is required")
    audience = emu.audiences.find(advertiser_id, audience_id)
    emu.audiences.ensure_updatable(audience)
    if sub_type is not None and sub_type != audience.sub_type:
        if (audience.sub_type, sub_type) != ("NORMAL", "REACH_FREQUENCY"):
            raise invalid("audience_sub_type", "Only NORMAL can change, to REACH_FREQUENCY")
        audience.sub_type = sub_type  # §2.5: the other changes in this call are ignored
        return {}
    if paths is not None:
        ttl = emu.audiences.rules.file_ttl_seconds
        files = emu.files.resolve(advertiser_id, paths, audience.calculate_type, ttl)
        emu.audiences.apply_files(audience, action, files)
    if name is not None:
        emu.audiences.rename(audience, name)
    return {}


async def get(request: web.Request, emu: Emulator) -> dict[str, Any]:
    grant = emu.grant(request)
    advertiser_id = req_str(request.query, "advertiser_id")
    allow_advertiser(grant, advertiser_id)
    ids = query_list(request.query, "custom_audience_ids", 1, 100)
    if ids is None:
        raise invalid("custom_audience_ids", MISSING)
    size = int_in(request.query.get("history_size"), "history_size", 1, 100, 100)
    found = [emu.audiences.find(advertiser_id, audience_id) for audience_id in ids]
    return {
        "list": [
            {
                "audience_details": emu.audiences.details(audience),
                "audience_history": [history_item(op) for op in reversed(audience.history)][:size],
            }
            for audience in found
        ]
    }


async def listing(request: web.Request, emu: Emulator) -> dict[str, Any]:
    grant = emu.grant(request)
    query = request.query
    advertiser_id = req_str(query, "advertiser_id")
    allow_advertiser(grant, advertiser_id)
    page = int_in(query.get("page"), "page", 1, 1_000_000, 1)
    page_size = int_in(query.get("page_size"), "page_size", 1, 100, 10)
    ids = query_list(query, "custom_audience_ids", 1, 100)
    audiences = [a for a in emu.audiences.of_advertiser(advertiser_id) if ids is None or a.audience_id in ids]
    start = (page - 1) * page_size
    return {
        "list": [emu.audiences.details(a) for a in audiences[start : start + page_size]],
        "page_info": {
            "page": page,
            "page_size": page_size,
            "total_number": len(audiences),
            "total_page": math.ceil(len(audiences) / page_size),
        },
    }


async def delete(request: web.Request, emu: Emulator) -> dict[str, Any]:
    grant = emu.grant(request)
    body = json_body(await request.read())
    advertiser_id = req_str(body, "advertiser_id")
    allow_advertiser(grant, advertiser_id)
    ids = str_list(body.get("custom_audience_ids"), "custom_audience_ids", 1, 100)
    emu.audiences.delete(advertiser_id, ids)
    return {}
