"""The fast pass over a track batch: True when every item is surely valid, False when in any doubt.

``events.check_items`` runs this first and, only when it answers False, the exact per-field checks that name
the first bad field. The fast pass may be stricter than the exact checks (a False only costs time), never
looser: each rule here is the same rule as there, written for speed. Hashes are not checked one by one but
collected and checked together: every value 64 characters, and nothing left of them once the lower-case hex
digits are deleted.
"""

from __future__ import annotations

from typing import Any, Final

from tikstream.emulator.eventrules import (
    HASHED_USER_FIELDS,
    MAX_EVENT_TIME,
    OFFLINE_EVENTS,
    SPECIAL_USER_RULES,
    STRING_USER_FIELDS,
)
from tikstream.emulator.properties import PROPERTY_RULES, SECTION_RULES, Rule

HEX_DIGITS: Final = b"0123456789abcdef"
_USER, _PROPERTIES, _SECTION, _FLAG = 1, 2, 3, 4
_HASHED, _STRING, _SPECIAL = 1, 2, 3
_USER_KINDS: Final = {
    **dict.fromkeys(HASHED_USER_FIELDS, _HASHED),
    **dict.fromkeys(STRING_USER_FIELDS, _STRING),
    **dict.fromkeys(SPECIAL_USER_RULES, _SPECIAL),
}

#: item key -> what it is; keys not listed are checked before (event, event_time, event_id) or ignored.
_ITEM_KINDS: Final = {
    "user": _USER,
    "properties": _PROPERTIES,
    **dict.fromkeys(("page", "app", "ad", "lead"), _SECTION),
    "limited_data_use": _FLAG,
}


def all_sha256_hex(values: list[Any]) -> bool:
    """Whether every value is a 64-character string of lower-case hex digits (in a few C-level passes)."""
    if not values:
        return True
    try:
        lengths_ok = set(map(len, values)) == {64}
        return lengths_ok and not "".join(values).encode().translate(None, HEX_DIGITS)
    except TypeError:
        return False


def batch_ok(items: list[Any], source: str) -> bool:
    """True when every item surely passes the rules of ``eventrules``."""
    hashes: list[Any] = []
    add, extend = hashes.append, hashes.extend
    user_kinds, max_event_time, offline_events = _USER_KINDS, MAX_EVENT_TIME, OFFLINE_EVENTS
    offline, crm = source == "offline", source == "crm"
    for item in items:
        if type(item) is not dict:
            return False
        event, event_time, event_id = item.get("event"), item.get("event_time"), item.get("event_id")
        if type(event) is not str or not event or (offline and event not in offline_events):
            return False
        if type(event_time) is not int or not 0 < event_time < max_event_time:
            return False
        if event_id is not None and type(event_id) is not str:
            return False
        if crm and not _has_lead_id(item):
            return False
        for key, value in item.items():
            kind = _ITEM_KINDS.get(key)
            if kind is None or value is None:
                continue
            if kind == _USER:
                if type(value) is not dict:
                    return False
                for field, field_value in value.items():
                    field_kind = user_kinds.get(field)
                    if field_kind is None:
                        continue
                    if field_kind == _HASHED:
                        if type(field_value) is str:
                            add(field_value)
                        elif type(field_value) is list:
                            extend(field_value)
                        else:
                            return False
                    elif field_kind == _STRING:
                        if type(field_value) is not str:
                            return False
                    elif not SPECIAL_USER_RULES[field][0](field_value):
                        return False
            elif kind == _PROPERTIES:
                if not _typed(value, PROPERTY_RULES):
                    return False
            elif kind == _SECTION:
                if not _typed(value, SECTION_RULES):
                    return False
            elif type(value) is not bool:
                return False
    return all_sha256_hex(hashes)


def _typed(value: Any, rules: dict[str, Rule]) -> bool:
    """``properties.checked_mapping`` as a yes/no answer, without building paths."""
    if type(value) is not dict:
        return False
    for key, item in value.items():
        rule = rules.get(key)
        if rule is None or item is None:
            continue
        if type(rule) is frozenset:
            if type(item) not in rule:
                return False
        elif rule(item) is not None:  # type: ignore[operator]
            return False
    return True


def _has_lead_id(item: dict[str, Any]) -> bool:
    lead = item.get("lead")
    return type(lead) is dict and type(lead.get("lead_id")) is str
