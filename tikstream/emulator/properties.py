"""Rules for an event's ``properties`` and ``page``/``app``/``ad``/``lead`` (TIKTOK_API.md §3.2, §3.5).

Unknown keys pass (TikTok's list of properties grows by vertical); known keys must have their documented type,
e.g. ``"data.0.properties.contents.0.content_id: Not a valid string"`` (§1.3).

A rule is either the set of allowed Python types or a check returning None when the value is fine, else a
``Problem`` = (path below the checked value, message). The same tables serve the fast pass (``fastcheck``) and
the exact checks (``checked_mapping``), which build field names only when something is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from tikstream.emulator.params import NOT_BOOLEAN, NOT_INTEGER, NOT_LIST, NOT_MAPPING, NOT_NUMBER, NOT_STRING

Problem = tuple[str, str]
Rule = frozenset[type] | Callable[[Any], Problem | None]

STR: Final[frozenset[type]] = frozenset((str,))
NUMBER: Final[frozenset[type]] = frozenset((int, float))
INT: Final[frozenset[type]] = frozenset((int,))
BOOL: Final[frozenset[type]] = frozenset((bool,))
TYPE_PROBLEMS: Final = {STR: NOT_STRING, NUMBER: NOT_NUMBER, INT: NOT_INTEGER, BOOL: NOT_BOOLEAN}
CONTENT_TYPES: Final = ("product", "product_group")

_is_currency = re.compile(r"[A-Z]{3}").fullmatch
_BAD_MAPPING: Final = ("", NOT_MAPPING)
_BAD_LIST: Final = ("", NOT_LIST)
_BAD_CURRENCY: Final = ("", "Not a valid ISO 4217 currency code")
_BAD_CONTENT_TYPE: Final = ("", f"Must be one of: {', '.join(CONTENT_TYPES)}")


def checked_mapping(value: Any, rules: dict[str, Rule]) -> Problem | None:
    """An object whose keys named in ``rules`` pass their rule (null values pass)."""
    if type(value) is not dict:
        return _BAD_MAPPING
    for key, item in value.items():
        rule = rules.get(key)
        if rule is None or item is None:
            continue
        if type(rule) is frozenset:
            if type(item) not in rule:
                return f".{key}", TYPE_PROBLEMS[rule]
        else:
            problem = rule(item)  # type: ignore[operator]
            if problem is not None:
                return f".{key}{problem[0]}", problem[1]
    return None


def _currency(value: Any) -> Problem | None:
    return None if type(value) is str and _is_currency(value) else _BAD_CURRENCY


def _content_type(value: Any) -> Problem | None:
    return None if value in CONTENT_TYPES else _BAD_CONTENT_TYPE


def _strings(value: Any) -> Problem | None:
    if type(value) is not list:
        return _BAD_LIST
    for i, item in enumerate(value):
        if type(item) is not str:
            return f".{i}", NOT_STRING
    return None


CONTENT_RULES: Final[dict[str, Rule]] = {
    **dict.fromkeys(("content_id", "content_name", "content_category", "brand"), STR),
    "price": NUMBER,
    "quantity": INT,
}


def _contents(value: Any) -> Problem | None:
    if type(value) is not list:
        return _BAD_LIST
    for i, item in enumerate(value):
        problem = checked_mapping(item, CONTENT_RULES)
        if problem is not None:
            return f".{i}{problem[0]}", problem[1]
    return None


PROPERTY_RULES: Final[dict[str, Rule]] = {
    **dict.fromkeys(("order_id", "shop_id", "description", "query", "search_string"), STR),
    "value": NUMBER,
    "num_items": INT,
    "contents": _contents,
    "content_ids": _strings,
    "content_type": _content_type,
    "currency": _currency,
}
#: Keys of ``page``, ``app``, ``ad`` and ``lead`` (§3.2).
SECTION_RULES: Final[dict[str, Rule]] = {
    **dict.fromkeys(("url", "referrer", "app_id", "app_name", "app_version", "callback"), STR),
    **dict.fromkeys(("campaign_id", "ad_id", "creative_id", "attribution_type"), STR),
    **dict.fromkeys(("attribution_provider", "lead_id", "lead_event_source"), STR),
    **dict.fromkeys(("is_retargeting", "attributed"), BOOL),
}
