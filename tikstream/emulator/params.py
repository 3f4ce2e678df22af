"""Reading request parameters with TikTok-style 40002 messages (``"<field>: <problem>"``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from tikstream.emulator.envelope import invalid

MISSING: Final = "Missing data for required field"
NOT_STRING: Final = "Not a valid string"
NOT_INTEGER: Final = "Not a valid integer"
NOT_LIST: Final = "Not a valid list"
NOT_MAPPING: Final = "Not a valid mapping type"
NOT_BOOLEAN: Final = "Not a valid boolean"
NOT_NUMBER: Final = "Not a valid number"


def json_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or 40002."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid("body", f"Invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise invalid("body", NOT_MAPPING)
    return doc


def req_str(doc: Mapping[str, Any], key: str, max_len: int = 0) -> str:
    """A required non-empty string (at most ``max_len`` characters when given)."""
    value = doc.get(key)
    if value is None or value == "":
        raise invalid(key, MISSING)
    if not isinstance(value, str):
        raise invalid(key, NOT_STRING)
    if max_len and len(value) > max_len:
        raise invalid(key, f"Length must be between 1 and {max_len}")
    return value


def opt_str(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(key, NOT_STRING)
    return value


def one_of(value: str, key: str, allowed: frozenset[str] | tuple[str, ...]) -> str:
    if value not in allowed:
        raise invalid(key, f"Must be one of: {', '.join(sorted(allowed))}")
    return value


def str_list(value: Any, key: str, lo: int, hi: int) -> list[str]:
    """A list of ``lo``..``hi`` non-empty strings."""
    if value is None:
        raise invalid(key, MISSING)
    if not isinstance(value, list):
        raise invalid(key, NOT_LIST)
    if not lo <= len(value) <= hi:
        raise invalid(key, f"Length must be between {lo} and {hi}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise invalid(f"{key}.{i}", NOT_STRING)
    return value


def query_list(query: Mapping[str, str], key: str, lo: int, hi: int) -> list[str] | None:
    """A JSON-array query parameter such as ``custom_audience_ids=["1","2"]`` (docs/tiktok-api.md §1.2)."""
    raw = query.get(key)
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid(key, "Not a valid JSON array string") from None
    return str_list(value, key, lo, hi)


def int_in(value: Any, key: str, lo: int, hi: int, default: int) -> int:
    """An integer in [lo, hi]; query strings of digits count as integers."""
    if value is None:
        return default
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(key, NOT_INTEGER)
    if not lo <= value <= hi:
        raise invalid(key, f"Must be greater than or equal to {lo} and less than or equal to {hi}")
    return value


def opt_bool(doc: Mapping[str, Any], key: str) -> bool | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, bool):
        raise invalid(key, NOT_BOOLEAN)
    return value
