"""Validation of ``POST /event/track/`` bodies (TIKTOK_API.md §3.1-§3.5).

Partial batches: §7.7 leaves open whether TikTok answers 20001 with per-item errors or fails the whole batch
(Hightouch's claim). The emulator takes the safe reading: **one bad item fails the whole batch** with 40002
and a message naming the first bad item's index (``"data.3.event_id: Not a valid string"``); nothing of that
batch is kept, so a client must split out the bad item and resend the rest.

Speed: ``fastcheck.batch_ok`` clears a good batch in one flat loop; the exact checks below run only when it
has a doubt, to find and name the first bad field (or to accept what the fast pass was too strict about).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any, Final

from tikstream.emulator.envelope import ApiError, invalid
from tikstream.emulator.eventrules import (
    HASHED_USER_FIELDS,
    MAX_EVENT_TIME,
    MAX_EVENTS,
    NOT_HASHED,
    OFFLINE_EVENTS,
    SOURCES,
    SPECIAL_USER_RULES,
    STRING_USER_FIELDS,
)
from tikstream.emulator.fastcheck import all_sha256_hex, batch_ok
from tikstream.emulator.params import (
    MISSING,
    NOT_BOOLEAN,
    NOT_INTEGER,
    NOT_LIST,
    NOT_MAPPING,
    NOT_STRING,
    json_body,
)
from tikstream.emulator.properties import PROPERTY_RULES, SECTION_RULES, checked_mapping

_SECTIONS: Final = ("properties", "page", "app", "ad", "lead")


@dataclass(frozen=True, slots=True)
class TrackRequest:
    source: str
    source_id: str
    test_event_code: str | None
    items: list[Any]


def parse_track(raw: bytes) -> TrackRequest:
    """The top level of a track body (source, source id, 1..1000 items); ``check_items`` checks items."""
    doc = json_body(raw)
    source = doc.get("event_source")
    if source not in SOURCES:
        raise invalid("event_source", MISSING if source is None else f"Must be one of: {', '.join(SOURCES)}")
    source_id = doc.get("event_source_id")
    if type(source_id) is not str or not source_id:
        raise invalid("event_source_id", MISSING if not source_id else NOT_STRING)
    for key in ("test_event_code", "partner_name"):
        if key in doc and type(doc[key]) is not str:
            raise invalid(key, NOT_STRING)
    data = doc.get("data")
    if type(data) is not list:
        raise invalid("data", MISSING if data is None else NOT_LIST)
    if not 1 <= len(data) <= MAX_EVENTS:
        raise invalid("data", f"Length must be between 1 and {MAX_EVENTS}")
    return TrackRequest(source, source_id, doc.get("test_event_code"), data)


def check_items(request: TrackRequest) -> None:
    """Raise 40002 naming the first bad item; see the module docstring for why the whole batch fails."""
    if batch_ok(request.items, request.source):
        return
    for i, item in enumerate(request.items):
        check_item(i, item, request.source)


def check_item(i: int, item: Any, source: str) -> None:
    """The exact checks of one item, raising 40002 with the first bad field's path."""
    if type(item) is not dict:
        raise invalid(f"data.{i}", NOT_MAPPING)
    event = item.get("event")
    if type(event) is not str or not event:
        raise invalid(f"data.{i}.event", MISSING if not event else NOT_STRING)
    if source == "offline" and event not in OFFLINE_EVENTS:
        raise invalid(f"data.{i}.event", "Offline events must be standard events")
    event_time = item.get("event_time")
    if type(event_time) is not int:
        raise invalid(f"data.{i}.event_time", MISSING if event_time is None else NOT_INTEGER)
    if not 0 < event_time < MAX_EVENT_TIME:
        raise invalid(f"data.{i}.event_time", "Must be a Unix timestamp in seconds")
    event_id = item.get("event_id")
    if event_id is not None and type(event_id) is not str:
        raise invalid(f"data.{i}.event_id", NOT_STRING)
    user = item.get("user")
    if user is not None:
        _check_user(i, user)
    _check_optional_parts(i, item, source)


def _check_optional_parts(i: int, item: dict[str, Any], source: str) -> None:
    for section in _SECTIONS:
        value = item.get(section)
        if value is not None:
            rules = PROPERTY_RULES if section == "properties" else SECTION_RULES
            problem = checked_mapping(value, rules)
            if problem is not None:
                raise invalid(f"data.{i}.{section}{problem[0]}", problem[1])
    if source == "crm":
        lead = item.get("lead") or {}
        if type(lead.get("lead_id")) is not str:
            raise invalid(f"data.{i}.lead.lead_id", MISSING)
    ldu = item.get("limited_data_use")
    if ldu is not None and type(ldu) is not bool:
        raise invalid(f"data.{i}.limited_data_use", NOT_BOOLEAN)


def _check_user(i: int, user: Any) -> None:
    if type(user) is not dict:
        raise invalid(f"data.{i}.user", NOT_MAPPING)
    for key, value in user.items():
        field = f"data.{i}.user.{key}"
        if key in HASHED_USER_FIELDS:
            values = value if type(value) is list else [value]
            if type(value) not in (str, list) or not all_sha256_hex(values):
                raise invalid(field, NOT_HASHED)
        elif key in STRING_USER_FIELDS:
            if type(value) is not str:
                raise invalid(field, NOT_STRING)
        elif key in SPECIAL_USER_RULES:
            rule, problem = SPECIAL_USER_RULES[key]
            if not rule(value):
                raise invalid(field, problem)


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked body. ``error`` is the first 40002 as (code, message): of the top level when ``source`` is
    empty, else of an item (the server checks the token's permission for the source before answering it).
    ``keys`` has one deduplication key per item (``""`` for an item without ``event_id``)."""

    source: str
    source_id: str
    test_event_code: str | None
    size: int
    keys: tuple[str, ...]
    error: tuple[int, str] | None


def check_body(body: bytes) -> Checked:
    """Decode and check one track body, with the cyclic garbage collector paused.

    A 1,000-event body decodes into ~40,000 objects that live only until the batch is checked; collecting
    while they exist would walk them again and again for nothing. They hold no cycles and are freed by
    reference counting when this returns.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _check(body)
    finally:
        if was_enabled:
            gc.enable()


def _check(body: bytes) -> Checked:
    try:
        request = parse_track(body)
    except ApiError as error:
        return Checked("", "", None, 0, (), (error.code, error.message))
    source, source_id, size = request.source, request.source_id, len(request.items)
    try:
        check_items(request)
    except ApiError as error:
        return Checked(source, source_id, request.test_event_code, size, (), (error.code, error.message))
    keys = tuple(
        f"{source_id}\x00{item['event']}\x00{item['event_id']}" if item.get("event_id") else ""
        for item in request.items
    )
    return Checked(source, source_id, request.test_event_code, size, keys, None)
