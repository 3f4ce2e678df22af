"""The streaming (segment) audience endpoints ``/segment/audience/`` and ``/segment/mapping/``
(docs/tiktok-api.md §2.9, §6.4).

Every call needs a token that may manage each advertiser it names. A mapping request is checked whole before
any member changes; it is refused (40002, field by field, in TikTok's style) when:

- ``action`` is not ``add`` or ``delete`` (default ``add``);
- an ``id_schema`` entry is unknown (lower case is accepted) or appears twice;
- a ``batch_data`` row is not as long as ``id_schema`` (every slot is there, ``{}`` when empty);
- an ``id`` is not a hash of its slot's kind: 64 (SHA-256) or 32 (MD5) lower-case hex characters;
- an audience id is unknown (40007) or belongs to no advertiser of ``advertiser_ids`` (40001).

The exact codes and wording TikTok answers these with are not documented (§2.9 names the rules, not the
errors): the codes follow §1.4 (40002 invalid parameters, 40007 no such object, 40001 no permission).
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from tikstream.emulator.audiences import Audience
from tikstream.emulator.context import Emulator
from tikstream.emulator.envelope import NO_PERMISSION, OBJECT_NOT_FOUND, ApiError, invalid
from tikstream.emulator.formats import SEGMENT_ID_TYPES
from tikstream.emulator.params import (
    MISSING,
    NOT_LIST,
    NOT_MAPPING,
    NOT_STRING,
    json_body,
    one_of,
    opt_str,
    req_str,
    str_list,
)
from tikstream.emulator.tokens import allow_advertiser

AUDIENCE_ACTIONS: Final = ("create", "delete")
MAPPING_ACTIONS: Final = ("add", "delete")
MAX_ADVERTISERS: Final = 1000  # no documented limit; a bound so a request cannot grow without end


async def audience(request: web.Request, emu: Emulator) -> dict[str, Any]:
    """Create (the default) or delete a segment audience; answers ``data.audience_id``."""
    grant = emu.grant(request)
    body = json_body(await request.read())
    advertiser_id = req_str(body, "advertiser_id")
    allow_advertiser(grant, advertiser_id)
    action = one_of(opt_str(body, "action") or "create", "action", AUDIENCE_ACTIONS)
    if action == "delete":
        audience_id = req_str(body, "delete_audience_id")
        emu.audiences.delete(advertiser_id, [audience_id])
        return {"audience_id": audience_id}
    name = req_str(body, "custom_audience_name")
    return {"audience_id": emu.audiences.create_segment(advertiser_id, name).audience_id}


async def mapping(request: web.Request, emu: Emulator) -> dict[str, Any]:
    """Add or delete the rows' ids in their audiences; all or nothing. The peers read no ``data`` (§2.9):
    an empty one."""
    grant = emu.grant(request)
    body = json_body(await request.read())
    advertisers = str_list(body.get("advertiser_ids"), "advertiser_ids", 1, MAX_ADVERTISERS)
    for advertiser_id in advertisers:
        allow_advertiser(grant, advertiser_id)
    action = one_of(opt_str(body, "action") or "add", "action", MAPPING_ACTIONS)
    schema = _id_schema(body.get("id_schema"))
    changes: dict[str, tuple[Audience, set[str]]] = {}
    rows = body.get("batch_data")
    if rows is None:
        raise invalid("batch_data", MISSING)
    if not isinstance(rows, list) or not rows:
        raise invalid("batch_data", NOT_LIST if not isinstance(rows, list) else "Length must be at least 1")
    for r, row in enumerate(rows):
        if not isinstance(row, list):
            raise invalid(f"batch_data.{r}", NOT_LIST)
        if len(row) != len(schema):
            raise invalid(f"batch_data.{r}", f"Length must be equal to the length of id_schema ({len(schema)}), "
                          f"with {{}} for an empty slot; got {len(row)}")
        for c, element in enumerate(row):
            _element(emu, f"batch_data.{r}.{c}", schema[c], element, set(advertisers), changes)
    for found, ids in changes.values():
        emu.audiences.map_ids(found, action, ids)
    emu.mappings.add(body, len(rows))
    return {}


def _id_schema(value: Any) -> list[str]:
    if value is None:
        raise invalid("id_schema", MISSING)
    if not isinstance(value, list) or not value:
        raise invalid("id_schema", NOT_LIST if not isinstance(value, list) else "Length must be at least 1")
    schema: list[str] = []
    for i, entry in enumerate(value):
        if not isinstance(entry, str):
            raise invalid(f"id_schema.{i}", NOT_STRING)
        kind = entry.upper()
        if kind not in SEGMENT_ID_TYPES:
            raise invalid(f"id_schema.{i}", f"Must be one of: {', '.join(SEGMENT_ID_TYPES)}")
        if kind in schema:
            raise invalid(f"id_schema.{i}", f"Duplicate id type {kind}: each may appear once")
        schema.append(kind)
    return schema


def _element(emu: Emulator, where: str, kind: str, element: Any, advertisers: set[str],
             changes: dict[str, tuple[Audience, set[str]]]) -> None:
    if not isinstance(element, dict):
        raise invalid(where, NOT_MAPPING)
    if not element:
        return  # the slot is empty for this user
    value = element.get("id")
    if not isinstance(value, str) or not value:
        raise invalid(f"{where}.id", MISSING if value in (None, "") else NOT_STRING)
    if SEGMENT_ID_TYPES[kind].fullmatch(value) is None:
        size = SEGMENT_ID_TYPES[kind].pattern.split("{")[-1].rstrip("}")
        raise invalid(f"{where}.id", f"Not a valid {kind} value: want {size} lower-case hex characters")
    for k, audience_id in enumerate(str_list(element.get("audience_ids"), f"{where}.audience_ids", 1, 100)):
        found = emu.audiences.get(audience_id)
        if found is None:
            raise ApiError(OBJECT_NOT_FOUND, f"{where}.audience_ids.{k}: audience {audience_id} does not exist")
        if found.advertiser_id not in advertisers:
            raise ApiError(NO_PERMISSION, f"No permission to operate audience {audience_id}: it belongs to no "
                           "advertiser in advertiser_ids.")
        changes.setdefault(audience_id, (found, set()))[1].add(value)
