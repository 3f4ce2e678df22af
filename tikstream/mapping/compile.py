"""A job version compiled once into a fast function: trigger → TikTok Events API 2.0 ``data[]`` item.

``compile_events_job(job)`` resolves everything that does not depend on the record up front: record paths
become getters, each ``user`` field gets its normaliser (``tikstream.mapping.normalise``), each ``properties``
field its converter; the mapper then only reads, normalises and assembles (TIKTOK_API.md §3.2-§3.5).

Rules the mapper applies to every trigger:

* Filter: a trigger of an audience or kind (``enter``/``exit``) the job does not want maps to None.
* ``event_time``: integer Unix seconds from ``event_time_field`` (RFC 3339, epoch seconds or milliseconds);
  a missing or unreadable value falls back to the trigger time.
* ``event_id``: :func:`event_id`, a string stable across replays.
* ``user``: each mapped value is normalised and hashed where TikTok wants it. ``email``, ``phone`` and
  ``external_id`` are lists (TikTok takes arrays; a list in the profile gives several values). A value that
  cannot be used (a phone that is not E.164-able, a malformed email) is left out, never sent wrong; every
  value is counted by outcome in :class:`IdentifierCounts`, aggregated locally and flushed in bulk.
* ``properties``: numbers stay numbers; ``0`` and ``false`` are values, only a missing (null) value is left
  out. ``value``/``price`` accept numeric strings, ``num_items``/``quantity`` integral numbers, ids are sent
  as strings; ``contents`` maps a list of objects item by item (:data:`CONTENT_ALIASES`).
* ``page`` (web), ``app`` (app) and ``limited_data_use`` from the job.

Not guaranteed: that TikTok accepts a property whose profile value has the wrong shape (a dict for
``value``): it is sent as found and a rejection sends the event to the DLQ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, Final

from tikstream.jobs.models import AppEventsJob, EventsJob, WebEventsJob
from tikstream.mapping.normalise import Normaliser, Outcome, event_normaliser
from tikstream.records import Trigger, compile_path, parse_ts

__all__ = ["ARRAY_USER_FIELDS", "CONTENT_ALIASES", "EventMapper", "IdentifierCounts", "compile_events_job",
           "event_id"]

ARRAY_USER_FIELDS: Final = frozenset({"email", "phone", "external_id"})
"""``user`` fields TikTok takes as arrays of strings (TIKTOK_API.md §3.4)."""

CONTENT_ALIASES: Final[Mapping[str, str]] = {
    "content_id": "content_id", "id": "content_id", "sku": "content_id", "product_id": "content_id",
    "content_name": "content_name", "name": "content_name", "title": "content_name",
    "content_category": "content_category", "category": "content_category",
    "content_type": "content_type", "brand": "brand",
    "price": "price", "quantity": "quantity", "qty": "quantity",
}  # fmt: skip
"""Item field of a ``contents`` list in the profile → TikTok ``contents[]`` field; other fields are left out."""

_OUTCOMES: Final = tuple(Outcome)
_blake2b = hashlib.blake2b
_COMPACT_EVERY: Final = 1 << 16
Getter = Callable[[dict[str, Any]], object]
Converter = Callable[[object], object]


def event_id(job_id: str, trigger: Trigger) -> str:
    """The event id of ``trigger`` for ``job_id``: 32 hex characters of a BLAKE2b-128 digest of the job,
    audience, enter/exit, trigger time (ms) and user, so it is the same on every replay and carries no PII.
    (The user id comes last: it is the only free-form part, so no two triggers share the digested text.)"""
    key = f"{job_id}|{trigger.audience}|{trigger.event}|{round(trigger.ts * 1000)}|{trigger.user_id}"
    return _blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class IdentifierCounts:
    """``identifier_values_total`` counts of one job, aggregated in memory and taken in bulk.

    The mapper only appends each value's ``Outcome`` to its field's list (a C call; counting into a dict
    keyed by the enum would hash it in Python, several times slower); ``take`` and ``compact`` count the
    lists with ``list.count`` (identity compares in C). Not thread-safe: one mapper, one thread.
    """

    __slots__ = ("_seen", "_totals")

    def __init__(self, fields: list[str]) -> None:
        self._seen: dict[str, list[Outcome]] = {f: [] for f in fields}
        self._totals: dict[str, dict[Outcome, int]] = {f: dict.fromkeys(_OUTCOMES, 0) for f in fields}

    def recorder(self, field: str) -> Callable[[Outcome], None]:
        """The function the mapper calls with each outcome of ``field``."""
        return self._seen[field].append

    def compact(self) -> None:
        """Fold the recorded outcomes into totals (bounds memory between two ``take``)."""
        for field, seen in self._seen.items():
            if seen:
                totals = self._totals[field]
                for outcome in _OUTCOMES:
                    totals[outcome] += seen.count(outcome)
                seen.clear()

    def take(self) -> dict[tuple[str, str], int]:
        """The counts since the last call, ``(field, outcome label) -> n`` (non-zero only), and reset."""
        self.compact()
        out: dict[tuple[str, str], int] = {}
        for field, totals in self._totals.items():
            for outcome, n in totals.items():
                if n:
                    out[(field, outcome.value)] = n
                    totals[outcome] = 0
        return out


class EventMapper:
    """``mapper(trigger)`` → the ``data[]`` item (a new dict) or None when the job does not want the trigger.

    Never raises for a record's content. ``counts`` holds the identifier outcomes seen so far.
    """

    def __init__(self, job: EventsJob) -> None:
        self.job_id = job.id
        self.source = job.source
        self._audiences = frozenset(job.audiences)
        self._triggers = frozenset(job.triggers)
        self._event_name = job.event_name
        region = job.default_phone_region
        self.counts = IdentifierCounts(sorted(set(job.identifiers.values())))
        self._identifiers: tuple[tuple[Getter, str, Normaliser, bool, Callable[[Outcome], None]], ...] = tuple(
            (compile_path(path), field, event_normaliser(field, region), field in ARRAY_USER_FIELDS,
             self.counts.recorder(field))
            for path, field in job.identifiers.items()
        )
        self._calls = 0
        self._properties = tuple(
            (compile_path(path), field, _PROPERTY_CONVERTERS.get(field, _as_is))
            for path, field in job.properties.items()
        )
        self._time = compile_path(job.event_time_field) if job.event_time_field else None
        self._ldu = job.limited_data_use
        self._extra = _source_section(job)

    def __call__(self, trigger: Trigger) -> dict[str, Any] | None:
        if trigger.event not in self._triggers or trigger.audience not in self._audiences:
            return None
        self._calls += 1
        if self._calls >= _COMPACT_EVERY:
            self._calls = 0
            self.counts.compact()
        doc = trigger.doc
        event: dict[str, Any] = {
            "event": self._event_name,
            "event_time": self._event_time(trigger),
            "event_id": event_id(self.job_id, trigger),
            "user": self._user(doc),
        }
        props = {}
        for get, field, convert in self._properties:
            raw = get(doc)
            if raw is not None:
                props[field] = convert(raw)
        if props:
            event["properties"] = props
        if self._extra is not None:
            self._extra(doc, event)
        if self._ldu or self.source != "offline":
            event["limited_data_use"] = self._ldu
        return event

    def _event_time(self, trigger: Trigger) -> int:
        if self._time is not None:
            raw = self._time(trigger.doc)
            if raw is not None and raw is not True and raw is not False:
                try:
                    return int(parse_ts(raw))
                except ValueError:
                    pass
        return int(trigger.ts)

    def _user(self, doc: dict[str, Any]) -> dict[str, Any]:
        user: dict[str, Any] = {}
        for get, field, normalise, array, record in self._identifiers:
            raw = get(doc)
            if type(raw) is list and array:
                values = _array_values(normalise, raw, record)
                if values:
                    user[field] = values
                continue
            value, outcome = normalise(raw)
            record(outcome)
            if value is not None:
                user[field] = [value] if array else value
        return user


def _array_values(normalise: Normaliser, raw: list[object], record: Callable[[Outcome], None]) -> list[str]:
    values: list[str] = []
    if not raw:
        record(Outcome.MISSING)
    for element in raw:
        value, outcome = normalise(element)
        record(outcome)
        if value is not None and value not in values:
            values.append(value)
    return values


def _source_section(job: EventsJob) -> Callable[[dict[str, Any], dict[str, Any]], None] | None:
    """What the source adds to each item: ``page`` for web, ``app`` for app, nothing for offline."""
    if isinstance(job, WebEventsJob):
        url = compile_path(job.page_url_field)
        referrer = compile_path(job.page_referrer_field) if job.page_referrer_field else None

        def page(doc: dict[str, Any], event: dict[str, Any]) -> None:
            section = {}
            u = url(doc)
            if u is not None:
                section["url"] = _text(u)
            if referrer is not None:
                r = referrer(doc)
                if r is not None:
                    section["referrer"] = _text(r)
            if section:
                event["page"] = section

        return page
    if isinstance(job, AppEventsJob):
        fixed: dict[str, Any] = {"app_name": job.app_name}
        if job.store_app_id is not None:
            fixed["app_id"] = job.store_app_id
        version = compile_path(job.app_version_field) if job.app_version_field else None

        def app(doc: dict[str, Any], event: dict[str, Any]) -> None:
            section = dict(fixed)
            if version is not None:
                v = version(doc)
                if v is not None:
                    section["app_version"] = _text(v)
            event["app"] = section

        return app
    return None


# -- property converters: shape a profile value the way TikTok types the field; never drop a value -------


def _as_is(value: object) -> object:
    return value


def _text(value: object) -> object:
    """Strings as they are; numbers (not booleans) in decimal; anything else unchanged."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int:
        return str(value)
    if kind is float:
        f: float = value  # type: ignore[assignment]
        return str(int(f)) if f.is_integer() else repr(f)
    return value


def _number(value: object) -> object:
    """Numbers as they are; a numeric string as an int or float; anything else unchanged."""
    if type(value) is str:
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return value
    return value


def _integer(value: object) -> object:
    kind = type(value)
    if kind is float and value.is_integer():  # type: ignore[attr-defined]
        return int(value)  # type: ignore[call-overload]
    if kind is str and value.strip().isdigit():  # type: ignore[attr-defined]
        return int(value)  # type: ignore[call-overload]
    return value


def _currency(value: object) -> object:
    return value.strip().upper() if type(value) is str else value


def _text_list(value: object) -> object:
    if type(value) is list:
        return [_text(v) for v in value]
    return [_text(value)]


_CONTENT_CONVERTERS: Final[dict[str, Converter]] = {
    "content_id": _text, "content_name": _text, "content_category": _text, "brand": _text,
    "price": _number, "quantity": _integer,
}  # fmt: skip


def _content(item: object) -> object:
    if type(item) is not dict:
        return item
    out: dict[str, object] = {}
    for key, raw in item.items():
        field = CONTENT_ALIASES.get(key)
        if field is not None and raw is not None and field not in out:
            out[field] = _CONTENT_CONVERTERS.get(field, _as_is)(raw)
    return out


def _contents(value: object) -> object:
    if type(value) is dict:
        return [_content(value)]
    if type(value) is list:
        return [_content(item) for item in value]
    return value


_PROPERTY_CONVERTERS: Final[dict[str, Converter]] = {
    "value": _number, "predicted_ltv": _number, "num_items": _integer, "currency": _currency,
    "order_id": _text, "shop_id": _text, "content_name": _text, "content_category": _text,
    "query": _text, "search_string": _text, "description": _text,
    "content_ids": _text_list, "contents": _contents,
}  # fmt: skip


def compile_events_job(job: EventsJob) -> EventMapper:
    """Compile ``job`` once (raises ``ValueError`` for an unknown field or region, which validation
    prevents); call the result per trigger."""
    return EventMapper(job)
