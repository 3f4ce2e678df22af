"""Checking ``POST /event/track/`` bodies against ``track_schema`` and answering in TikTok's words.

Partial batches: docs/tiktok-api.md §7.7 leaves open whether TikTok answers 20001 with per-item errors or fails the
whole batch (Hightouch's claim). The emulator takes the safe reading: **one bad item fails the whole batch**
with 40002 and a message naming the first bad item's index (``"data.3.event_id: Not a valid string"``);
nothing of that batch is kept, so a client must split out the bad item and resend the rest.
"""

from __future__ import annotations

import gc
import operator
from dataclasses import dataclass
from typing import Any, Final

from tikstream.emulator import track_decoder
from tikstream.emulator.envelope import INVALID_PARAMS, ApiError
from tikstream.emulator.params import (
    MISSING,
    NOT_BOOLEAN,
    NOT_INTEGER,
    NOT_LIST,
    NOT_MAPPING,
    NOT_NUMBER,
    NOT_STRING,
    json_body,
)
from tikstream.emulator.track_schema import HASHED_USER_FIELDS, MAX_EVENTS, TRACK_VALIDATOR, TRAVEL_DATES

NOT_HASHED: Final = "Not a valid SHA-256 hash: expected 64 lower-case hex characters"
_TYPE_PROBLEMS: Final = {
    "string": NOT_STRING,
    "integer": NOT_INTEGER,
    "number": NOT_NUMBER,
    "boolean": NOT_BOOLEAN,
    "array": NOT_LIST,
    "object": NOT_MAPPING,
}
#: ``anyOf`` and ``pattern`` failures, by the name of the field that failed.
_SHAPE_PROBLEMS: Final = {
    "idfa": "Not a valid IDFA: raw upper-case UUID or lower-case SHA-256 hex",
    "gaid": "Not a valid GAID: raw lower-case UUID or lower-case SHA-256 hex",
    "currency": "Not a valid ISO 4217 currency code",
    **dict.fromkeys(TRAVEL_DATES, "Not a valid date: YYYYMMDD, YYYY-MM-DD, YYYY-MM-DDThh:mmTZD or "
                                  "YYYY-MM-DDThh:mm:ssTZD"),
}
_BOUNDS: Final = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_event_time, _event = operator.itemgetter("event_time"), operator.itemgetter("event")
_event_id = operator.methodcaller("get", "event_id")


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked body. ``error`` is the first 40002 message: of the top level when ``source`` is empty, else
    of an item (the server checks the token's permission for the source before answering with it).
    ``events`` and ``event_ids`` (None when absent) give, with the source id, TikTok's dedup key per event."""

    source: str
    source_id: str
    test_event_code: str | None
    size: int
    events: tuple[str, ...]
    event_ids: tuple[str | None, ...]
    error: str | None


def check_body(body: bytes) -> Checked:
    """Decode and check one track body, with the cyclic garbage collector paused: first the fast path
    (``track_decoder``: accepts only what the rule book accepts), then, for a body it does not take, the rule
    book itself, which decides and words the 40002.

    A 1,000-event body decodes into ~40,000 objects that live only until the batch is checked; collecting
    while they exist would walk them again and again for nothing. They hold no cycles and are freed by
    reference counting when this returns.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        fast = track_decoder.decode(body)
        if fast is not None:
            return Checked(
                fast.source, fast.source_id, fast.test_event_code, len(fast.events), fast.events, fast.event_ids, None
            )
        return _check(json_body(body))
    except ApiError as error:
        return Checked("", "", None, 0, (), (), error.message)
    finally:
        if was_enabled:
            gc.enable()


def answer(checked: Checked) -> None:
    """Raise the 40002 that ``checked`` carries, if any."""
    if checked.error is not None:
        raise ApiError(INVALID_PARAMS, checked.error)


def _check(doc: dict[str, Any]) -> Checked:
    if not TRACK_VALIDATOR.is_valid(doc):
        path, problem = _first_error(doc)
        if not path or path[0] != "data" or len(path) < 2:
            return Checked("", "", None, 0, (), (), _field(path, problem))
        return _failed(doc, _field(path, problem))
    items: list[dict[str, Any]] = doc["data"]
    if set(map(type, map(_event_time, items))) != {int}:
        first = next(i for i, item in enumerate(items) if type(item["event_time"]) is not int)
        return _failed(doc, f"data.{first}.event_time: {NOT_INTEGER}")
    events, event_ids = tuple(map(_event, items)), tuple(map(_event_id, items))
    source, source_id, test_code = doc["event_source"], doc["event_source_id"], doc.get("test_event_code")
    return Checked(source, source_id, test_code, len(items), events, event_ids, None)


def _failed(doc: dict[str, Any], message: str) -> Checked:
    size = len(doc["data"])
    return Checked(doc["event_source"], doc["event_source_id"], None, size, (), (), message)


def _field(path: list[Any], problem: str) -> str:
    return f"{'.'.join(map(str, path)) or 'body'}: {problem}"


def _first_error(doc: dict[str, Any]) -> tuple[list[Any], str]:
    """The top-level error if there is one, else the error of the lowest-numbered event."""
    found = [_explain(error) for error in TRACK_VALIDATOR.iter_errors(doc)]

    def rank(entry: tuple[list[Any], str]) -> int:
        path = entry[0]
        return path[1] if len(path) > 1 and path[0] == "data" else -1

    return min(found, key=rank)


def _explain(error: Any) -> tuple[list[Any], str]:
    """(instance path, TikTok-style problem) for one jsonschema-rs error."""
    path, name, detail = list(error.instance_path), error.kind.name, error.kind.as_dict()
    leaf = next((part for part in reversed(path) if isinstance(part, str)), "")
    if name == "required":
        return [*path, detail["property"]], MISSING
    if name == "type" and error.instance is None:
        return path, "Field may not be null"
    if name == "type" and leaf not in HASHED_USER_FIELDS:
        return path, _TYPE_PROBLEMS[detail["types"][0]]
    if name in ("type", "pattern"):
        return path, _SHAPE_PROBLEMS.get(leaf, NOT_HASHED)
    if name == "enum" and leaf == "event":
        return path, "Offline events must be standard events"
    if name == "enum":
        return path, f"Must be one of: {', '.join(map(str, detail['options']))}"
    if name in ("minItems", "maxItems") and path == ["data"]:
        return path, f"Length must be between 1 and {MAX_EVENTS}"
    if name in ("minItems", "maxItems"):
        return path, f"Length must be {detail.get('limit', '')}".rstrip()
    if name == "minLength":
        return path, MISSING
    if name == "maxLength":
        return path, f"Longer than {detail.get('limit', '')} characters"
    if name in _BOUNDS:
        return path, "Must be a Unix timestamp in seconds"
    return path, str(error.message)
