"""Trigger records (docs/architecture.md §3): the hot-path decoder, record paths, and the model behind the JSON Schema.

``decode`` runs once per consumed record, so it uses orjson and plain checks, never pydantic. A value it
refuses raises ``InvalidRecord(reason, detail)``; ``reason`` is one of ``REASONS``, a stable word used as the
``dlq_records_total{reason}`` label and as the DLQ ``error_class`` header. Details never quote ``user_id``
or the profile (they end up in logs and headers).

``ts`` rule. A string must be an RFC 3339 date-time with ``Z`` or a numeric offset (``T``, ``t`` or a space
between date and time; any number of fractional digits). A number is epoch **seconds** when it is below
``EPOCH_MS_FROM`` (1e11, i.e. before the year 5138) and epoch **milliseconds** from there up to
``EPOCH_MS_UNTIL`` (1e14, the same year 5138 in ms); negative values and larger ones (microseconds,
nanoseconds) are refused. Milliseconds since 1970 pass 1e11 on 1973-03-03, so no realistic trigger is
ambiguous. A missing or null ``ts`` takes the Kafka record timestamp; without one the record is refused:
a wall-clock default would make event ids differ on replay.

``TriggerModel`` exists only to generate ``schemas/trigger.schema.json``; a test checks that it accepts and
refuses the same records as ``decode``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Final, Literal, cast

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tikstream.errors import InvalidRecord

__all__ = [
    "EPOCH_MS_FROM",
    "EPOCH_MS_UNTIL",
    "MAX_VALUE_BYTES",
    "PATH_PATTERN",
    "REASONS",
    "SLUG_PATTERN",
    "Partition",
    "Trigger",
    "TriggerModel",
    "compile_path",
    "compile_trigger_path",
    "decode",
    "get_path",
    "parse_ts",
    "valid_user_id",
]

Partition = tuple[str, int]
"""(topic, partition): cheap to hash, compared by value."""

MAX_VALUE_BYTES: Final = 1 << 20
"""Default largest record value decoded (1 MiB); larger ones are dead-lettered as ``too_large``."""

EPOCH_MS_FROM: Final = 1e11
EPOCH_MS_UNTIL: Final = 1e14

REASONS: Final = (
    "null_value", "too_large", "not_utf8", "invalid_json", "not_object",
    "missing_field", "invalid_field", "invalid_ts",
)  # fmt: skip

SLUG_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"
"""An audience slug. At most 64 characters, so the TikTok audience name ``{prefix} {audience} {time}`` fits
in TikTok's 128."""

PATH_SEGMENT: Final = r"[A-Za-z0-9_$-]+"
PATH_PATTERN: Final = rf"^(?:user(?:\.{PATH_SEGMENT})+|user_id|audience|event|ts)$"
"""A record path: ``user.<segment>[.<segment>...]`` or one of the trigger fields. A digits-only segment
also indexes a JSON array (``user.orders.0.total``)."""

RFC3339_PATTERN: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)

_SLUG = re.compile(SLUG_PATTERN[1:-1]).fullmatch
_PATH = re.compile(PATH_PATTERN[1:-1]).fullmatch
_RFC3339 = re.compile(RFC3339_PATTERN[1:-1]).fullmatch
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


@dataclass(frozen=True, slots=True)
class Trigger:
    """One decoded trigger. ``ts`` is epoch seconds (UTC); ``doc`` is the whole decoded record: read-only."""

    audience: str
    event: str
    user_id: str
    ts: float
    doc: dict[str, Any]
    raw: bytes = field(default=b"", compare=False, repr=False)
    """The record value exactly as consumed, for dead letters ("original value, unchanged")."""


def decode(value: bytes | None, timestamp_ms: int | None, *, max_bytes: int = MAX_VALUE_BYTES) -> Trigger:
    """Decode one trigger record value. ``timestamp_ms`` is the Kafka record timestamp (None or < 0: none).

    Raises ``InvalidRecord`` with a reason from ``REASONS``.
    """
    if value is None:
        raise InvalidRecord("null_value", "the record has no value (a tombstone)")
    if len(value) > max_bytes:
        raise InvalidRecord("too_large", f"the value has {len(value)} bytes, more than {max_bytes}")
    try:
        doc = _loads(value)
    except _JSONDecodeError as exc:
        raise _undecodable(value, exc) from None
    if type(doc) is not dict:
        raise InvalidRecord("not_object", f"the value is a JSON {_json_type(doc)}, not an object")
    audience = doc.get("audience")
    event = doc.get("event")
    user_id = doc.get("user_id")
    if type(audience) is not str or (audience not in _slugs_seen and not _new_slug(audience)):
        raise _bad_field("audience", audience, "a slug: " + SLUG_PATTERN)
    if event != "enter" and event != "exit":  # two compares: cheaper than a set lookup
        raise _bad_field("event", event, "'enter' or 'exit'")
    if type(user_id) is not str or not user_id or user_id.isspace():
        raise _bad_field("user_id", user_id, "a non-empty string", quote=False)
    user = doc.get("user")
    if user is not None and type(user) is not dict:
        raise InvalidRecord("invalid_field", f"user must be a JSON object, not a {_json_type(user)}")
    ts = doc.get("ts")
    if ts is None:
        if timestamp_ms is None or timestamp_ms < 0:
            raise InvalidRecord("invalid_ts", "no ts in the record and no Kafka record timestamp")
        seconds = timestamp_ms / 1000.0
    elif type(ts) is int and 0 <= ts < EPOCH_MS_FROM:  # the common cases first, without a call
        seconds = float(ts)
    elif type(ts) is str and (seen := _ts_get(ts)) is not None:  # one lookup, not `in` then `[]`
        seconds = seen
    else:
        try:
            seconds = parse_ts(ts)
        except ValueError as exc:
            raise InvalidRecord("invalid_ts", str(exc)) from None
    trigger = _new(Trigger)
    _set_audience(trigger, audience)
    _set_event(trigger, event)
    _set_user_id(trigger, user_id)
    _set_ts(trigger, seconds)
    _set_doc(trigger, doc)
    _set_raw(trigger, value)
    return trigger


# A frozen dataclass's __init__ goes through object.__setattr__ five times; decode() fills the slots
# through their descriptors instead, which halves the cost of building a Trigger.
def _slot_setter(name: str) -> Callable[[Trigger, object], None]:
    setter: Callable[[Trigger, object], None] = vars(Trigger)[name].__set__
    return setter


_new = object.__new__
_set_audience = _slot_setter("audience")
_set_event = _slot_setter("event")
_set_user_id = _slot_setter("user_id")
_set_ts = _slot_setter("ts")
_set_doc = _slot_setter("doc")
_set_raw = _slot_setter("raw")

_CACHE_SIZE: Final = 4096
_slugs_seen: set[str] = set()
_ts_seen: dict[str, float] = {}
_ts_get = _ts_seen.get  # the dict is cleared when full, never replaced


def _new_slug(audience: str) -> bool:
    if not _SLUG(audience):
        return False
    if len(_slugs_seen) >= _CACHE_SIZE:
        _slugs_seen.clear()
    _slugs_seen.add(audience)
    return True


def valid_user_id(value: object) -> bool:
    """Whether ``value`` can be a ``user_id``: a string with at least one non-space character."""
    return type(value) is str and bool(value) and not value.isspace()


def parse_ts(value: object) -> float:
    """Epoch seconds from an RFC 3339 string or an epoch number (seconds or ms, see the module docstring).

    Raises ``ValueError`` saying why ``value`` is not a timestamp.
    """
    kind = type(value)
    if kind is int or kind is float:
        n = cast(float, value)
        if 0 <= n < EPOCH_MS_FROM:
            return float(n)
        if EPOCH_MS_FROM <= n < EPOCH_MS_UNTIL:
            return n / 1000.0
        raise ValueError(f"ts {n!r} is neither epoch seconds nor epoch milliseconds (0 to 1e14)")
    if kind is str:
        text = cast(str, value)
        if _RFC3339(text):
            try:
                seconds = datetime.fromisoformat(text.upper()).timestamp()
            except ValueError:
                pass
            else:
                if len(_ts_seen) >= _CACHE_SIZE:
                    _ts_seen.clear()
                _ts_seen[text] = seconds
                return seconds
        raise ValueError(f"ts {text[:40]!r} is not an RFC 3339 date-time with a time zone")
    raise ValueError(f"ts must be an RFC 3339 string or an epoch number, not a {_json_type(value)}")


def _undecodable(value: bytes, exc: ValueError) -> InvalidRecord:
    try:
        bytes(value).decode("utf-8")
    except UnicodeDecodeError as bad:
        return InvalidRecord("not_utf8", f"byte {bad.start} is not valid UTF-8")
    return InvalidRecord("invalid_json", str(exc))


def _bad_field(name: str, value: object, expected: str, *, quote: bool = True) -> InvalidRecord:
    if value is None:
        return InvalidRecord("missing_field", f"{name} is missing")
    if type(value) is str:
        shown = f" {value[:40]!r}" if quote else ""
        return InvalidRecord("invalid_field", f"{name}{shown} must be {expected}")
    return InvalidRecord("invalid_field", f"{name} must be {expected}, not a {_json_type(value)}")


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return names.get(type(value), "null")


# --- record paths ---------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def compile_path(dotted: str) -> Callable[[dict[str, Any]], object]:
    """A getter for a record path on a decoded record; it returns None where the path leads nowhere.

    Raises ``ValueError`` for a string that is not a record path (see ``PATH_PATTERN``).
    """
    if not _PATH(dotted):
        raise ValueError(f"{dotted!r} is not a record path")
    parts = dotted.split(".")
    if len(parts) == 1:
        key = parts[0]
        return lambda doc: doc.get(key)
    if len(parts) == 2:
        first, second = parts

        def get2(doc: dict[str, Any]) -> object:
            inner = doc.get(first)
            return inner.get(second) if type(inner) is dict else None

        return get2
    steps = tuple((p, int(p) if p.isdigit() else -1) for p in parts)
    return lambda doc: _walk(doc, steps)


def _walk(doc: dict[str, Any], steps: tuple[tuple[str, int], ...]) -> object:
    current: object = doc
    for key, index in steps:
        if type(current) is dict:
            current = current.get(key)
        elif type(current) is list and 0 <= index < len(current):
            current = current[index]
        else:
            return None
    return current


def get_path(doc: dict[str, Any], dotted: str) -> object:
    """The value at ``dotted`` in ``doc``, or None (see ``compile_path``)."""
    return compile_path(dotted)(doc)


def compile_trigger_path(dotted: str) -> Callable[[Trigger], object]:
    """A getter for a record path on a ``Trigger``: ``ts`` gives the decoded epoch seconds (the record's
    ``ts`` or, when it has none, the Kafka timestamp), the other paths read the record."""
    if dotted == "ts":
        return lambda trigger: trigger.ts
    getter = compile_path(dotted)
    return lambda trigger: getter(trigger.doc)


# --- the schema model -------------------------------------------------------------------------------------


class TriggerModel(BaseModel):
    """A trigger record: an audience enter or exit of one user (docs/architecture.md §3). Other top-level fields are
    allowed and ignored; record paths can only address ``user.*`` and the fields below."""

    model_config = ConfigDict(extra="allow", frozen=True, title="Trigger")

    audience: Annotated[str, Field(pattern=SLUG_PATTERN, description="Audience slug.")]
    event: Literal["enter", "exit"]
    user_id: Annotated[str, Field(min_length=1, pattern=r"\S", description="The user; also the record key.")]
    ts: (
        Annotated[str, Field(pattern=RFC3339_PATTERN, json_schema_extra={"format": "date-time"})]
        | Annotated[float, Field(ge=0, lt=EPOCH_MS_UNTIL)]
        | None
    ) = Field(
        default=None,
        description="When the user entered or left: RFC 3339, or epoch seconds (< 1e11) or milliseconds "
        "(>= 1e11). Defaults to the Kafka record timestamp.",
    )
    user: dict[str, Any] | None = Field(default=None, description="The user's profile, any JSON object.")

    @field_validator("ts", mode="before")
    @classmethod
    def _ts_as_decode(cls, value: object) -> object:
        if value is not None:
            parse_ts(value)
        return value

    @field_validator("user_id", mode="before")
    @classmethod
    def _user_id_as_decode(cls, value: object) -> object:
        if type(value) is str and not valid_user_id(value):
            raise ValueError("must have a non-space character")
        return value
