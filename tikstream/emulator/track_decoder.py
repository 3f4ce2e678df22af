"""The fast path of ``POST /event/track/``: one native pass (msgspec) that accepts only bodies the rule book
(``track_schema.TRACK_SCHEMA``) accepts. It creates about half the objects of orjson + jsonschema-rs and checks
a 1,000-event batch in about half the time.

The msgspec types are *built from* ``TRACK_SCHEMA`` by ``type_for()``, never written by hand, so the two
cannot drift apart field by field; ``type_for()`` refuses any JSON Schema keyword it does not translate. What
the translation leaves to Python, after decoding:

- hashed user fields (§3.4) are decoded as ``msgspec.Raw`` (their JSON text, no string made) and checked in
  one scan over the whole batch: the common shapes, ``"<64 hex>"`` and ``["<64 hex>"]``, are told by their
  length and by what is left once the hex digits are deleted; any other shape is decoded and checked alone;
- the rules that depend on ``event_source`` (the schema's ``allOf``): offline events must be standard events
  (checked here); crm batches are left to the slow path.

The fast path may refuse more than the rule book (msgspec takes ``2.0`` for no integer, for one); it must never
accept more. A body it refuses goes to the slow path (``events``), which decides and words TikTok's 40002.
``tests/emulator/test_track_decoder.py`` holds the two to that contract.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import repeat
from operator import attrgetter
from typing import Annotated, Any, Final, Literal, NamedTuple

import msgspec

from tikstream.emulator.formats import SHA256_HEX
from tikstream.emulator.track_schema import HASHED, HASHED_USER_FIELDS, OFFLINE_EVENTS, TRACK_SCHEMA

#: Keywords ``type_for()`` translates; any other keyword in a fragment is refused, not silently dropped.
_KNOWN: Final = frozenset(
    {"type", "properties", "required", "items", "minItems", "maxItems", "minLength", "maxLength", "pattern", "enum"}
    | {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
)
_BOUNDS: Final = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}
_SCALARS: Final[dict[str, type]] = {"string": str, "integer": int, "number": float, "boolean": bool}
_UNSET: Final = msgspec.UNSET
_OFFLINE: Final = frozenset(OFFLINE_EVENTS)

#: What is left of a hashed field's JSON text once its hex digits are deleted, by the text's length, for the
#: shapes taken without decoding: absent, ``"<64 hex>"`` and ``["<64 hex>"]``.
_SKELETONS: Final = {0: b"", 66: b'""', 68: b'[""]'}
_HEX_DIGITS: Final = b"0123456789abcdef"
#: Between the hashed fields' texts when they are scanned together; a control byte is never part of JSON text.
_SEPARATOR: Final = b"\x01"
#: The text of an absent hashed field: one shared empty ``Raw``, so a column is told absent by identity.
_ABSENT: Final = msgspec.Raw()
_ONE_OR_MANY: Final = msgspec.json.Decoder(str | list[str])


class Decoded(NamedTuple):
    """What the handler needs of an accepted body (the facts of ``events.Checked``)."""

    source: str
    source_id: str
    test_event_code: str | None
    events: tuple[str, ...]
    event_ids: tuple[str | None, ...]


class _Deferred(NamedTuple):
    """A pattern checked after decoding, on ``item.<section>.<field>`` of every event (msgspec's own pattern
    check costs a few microseconds a value; a compiled ``fullmatch`` a fraction of that)."""

    section: str
    field: str
    pattern: re.Pattern[str]


def type_for(
    fragment: dict[str, Any], name: str, path: tuple[str, ...] = (), deferred: list[_Deferred] | None = None
) -> Any:
    """The msgspec type of one JSON Schema fragment at ``path`` (property names; ``*`` for array items).

    Objects become ``gc=False`` structs that skip unknown keys (the schema allows them). A pattern ``^...$``
    becomes ``\\A...\\Z`` (Python's ``$`` would also match before a trailing newline); at
    ``data.*.<section>.<field>`` it is left to ``deferred`` (checked after decoding), elsewhere msgspec checks
    it. ``HASHED`` becomes ``msgspec.Raw``, checked after decoding."""
    unknown = set(fragment) - _KNOWN
    if unknown:
        raise ValueError(f"{name}: JSON Schema keywords without a msgspec translation: {sorted(unknown)}")
    if fragment is HASHED:
        return msgspec.Raw
    if "enum" in fragment:
        return Literal[tuple(fragment["enum"])]
    kind = fragment["type"]
    if isinstance(kind, list):  # one type per alternative, each with the keywords that bind it
        return _one_of(fragment, kind, name, path, deferred)
    if kind == "object":
        return _struct(fragment, name, path, deferred)
    if kind == "array":
        items = type_for(fragment["items"], name + "Item", (*path, "*"), deferred)
        return _annotated(list[items], min_length=fragment.get("minItems"), max_length=fragment.get("maxItems"))  # type: ignore[valid-type]
    bounds = {_BOUNDS[key]: value for key, value in fragment.items() if key in _BOUNDS}
    pattern = fragment.get("pattern")
    if pattern is not None:
        if not (pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$")):
            raise ValueError(f"{name}: pattern is not anchored ^...$: {pattern}")
        pattern = rf"\A{pattern[1:-1]}\Z"
        if deferred is not None and len(path) == 4 and path[:2] == ("data", "*") and "*" not in path[2:]:
            deferred.append(_Deferred(path[2], path[3], re.compile(pattern)))
            pattern = None
    return _annotated(_SCALARS[kind], min_length=fragment.get("minLength"), max_length=fragment.get("maxLength"),
                      pattern=pattern, **bounds)


#: The keywords that bind each JSON type (JSON Schema applies the others to no value of that type).
_BINDS: Final = {
    "array": {"items", "minItems", "maxItems"}, "string": {"minLength", "maxLength", "pattern"},
    "integer": set(_BOUNDS), "number": set(_BOUNDS), "boolean": set(), "object": {"properties", "required"},
}  # fmt: skip


def _one_of(fragment: dict[str, Any], kinds: list[str], name: str, path: tuple[str, ...],
            deferred: list[_Deferred] | None) -> Any:
    """A union of the types in ``kinds`` (msgspec takes at most one of each family: ``str | list[str]``)."""
    if any(key in fragment for key in ("pattern", "minLength", "maxLength")) or "object" in kinds:
        raise ValueError(f"{name}: a union with string constraints or an object has no msgspec translation")
    alternatives = [
        type_for({"type": kind, **{k: v for k, v in fragment.items() if k in _BINDS[kind]}}, name, path, deferred)
        for kind in kinds
    ]
    union = alternatives[0]
    for alternative in alternatives[1:]:
        union = union | alternative
    return union


def _annotated(base: Any, **constraints: Any) -> Any:
    given = {key: value for key, value in constraints.items() if value is not None}
    return Annotated[base, msgspec.Meta(**given)] if given else base


def _struct(fragment: dict[str, Any], name: str, path: tuple[str, ...], deferred: list[_Deferred] | None) -> Any:
    properties: dict[str, Any] = fragment.get("properties", {})
    required = set(fragment.get("required", ()))
    if not required <= set(properties):
        raise ValueError(f"{name}: required keys without a type: {sorted(required - set(properties))}")
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for key, sub in properties.items():
        typ = type_for(sub, name + key.title().replace("_", ""), (*path, key), deferred)
        if key in required:
            fields.append((key, typ))
        elif typ is msgspec.Raw:
            fields.append((key, typ, _ABSENT))
        else:
            fields.append((key, typ | msgspec.UnsetType, _UNSET))
    return msgspec.defstruct(name, fields, kw_only=True, gc=False)


def _body_type() -> tuple[Any, tuple[_Deferred, ...]]:
    schema: dict[str, Any] = TRACK_SCHEMA
    rules = {rule["if"]["properties"]["event_source"]["const"] for rule in schema["allOf"]}
    if rules != {"offline", "crm"}:
        raise ValueError(f"the fast path knows the offline and crm rules only; the schema has {sorted(rules)}")
    deferred: list[_Deferred] = []
    body = {key: value for key, value in schema.items() if key not in ("$schema", "allOf")}
    return type_for(body, "Track", (), deferred), tuple(deferred)


_BODY, _DEFERRED = _body_type()
_DECODER: Final = msgspec.json.Decoder(_BODY)
#: The item sections read after decoding: ``user`` for the hashes, and those of the deferred patterns.
_SECTIONS: Final = tuple(dict.fromkeys(("user", *(rule.section for rule in _DEFERRED))))


def decode(body: bytes) -> Decoded | None:
    """The facts of a body the rule book accepts, or None: the slow path must decide (and word the error)."""
    try:
        doc = _DECODER.decode(body)
    except (msgspec.MsgspecError, UnicodeDecodeError):
        return None
    items = doc.data
    events = tuple([item.event for item in items])
    if doc.event_source == "crm" or (doc.event_source == "offline" and not _OFFLINE.issuperset(events)):
        return None
    sections = {name: _present(map(attrgetter(name), items)) for name in _SECTIONS}
    if not all(map(hashes_hold, map(_column, repeat(sections["user"]), HASHED_USER_FIELDS))):
        return None
    for rule in _DEFERRED:  # each distinct value once: currencies repeat
        if not all(map(rule.pattern.fullmatch, set(_present(map(attrgetter(rule.field), sections[rule.section]))))):
            return None
    event_ids = tuple([None if item.event_id is _UNSET else item.event_id for item in items])
    test_code = None if doc.test_event_code is _UNSET else doc.test_event_code
    return Decoded(doc.event_source, doc.event_source_id, test_code, events, event_ids)


def _present(values: Iterable[Any]) -> list[Any]:
    return [value for value in values if value is not _UNSET]


def _column(users: list[Any], name: str) -> list[msgspec.Raw]:
    return list(map(attrgetter(name), users))


def hashes_hold(texts: list[msgspec.Raw]) -> bool:
    """Whether each text (one hashed field of each event, empty where absent) is a lower-case SHA-256 hex
    string or a list of them.

    Texts of 0, 66 or 68 bytes are taken in one scan: with the hex digits deleted, each must leave exactly its
    skeleton, ``""`` or ``[""]`` (the separator keeps each text's rest apart). A JSON value of 66 bytes that
    leaves ``""`` can only be a string of 64 hex digits (no escapes: ``\\`` is no hex digit), and one of 68 that
    leaves ``[""]`` only such a string in a list. Any other text is decoded and checked on its own.
    """
    if texts.count(_ABSENT) == len(texts):
        return True
    lengths = list(map(len, texts))
    if not _SKELETONS.keys() >= set(lengths):
        if not all(_one_holds(text) for text, size in zip(texts, lengths, strict=True) if size not in _SKELETONS):
            return False
        texts = [text for text, size in zip(texts, lengths, strict=True) if size in _SKELETONS]
        lengths = list(map(len, texts))
    expected = _SEPARATOR.join(map(_SKELETONS.__getitem__, lengths))
    return _SEPARATOR.join(texts).translate(None, _HEX_DIGITS) == expected


def _one_holds(text: msgspec.Raw) -> bool:
    try:
        value = _ONE_OR_MANY.decode(bytes(text))
    except msgspec.MsgspecError:
        return False
    values = [value] if isinstance(value, str) else value
    return all(SHA256_HEX.fullmatch(one) for one in values)
