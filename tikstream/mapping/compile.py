"""A job version compiled once into a fast function: trigger → TikTok Events API 2.0 ``data[]`` item.

``compile_events_job(job)`` resolves everything that does not depend on the record up front: record paths
become getters, each ``user`` field gets its normaliser (``tikstream.mapping.normalise``), each ``properties``
field its converter, and all of it is generated into one straight-line function (``EventMapper``); per
trigger it only reads, normalises and assembles (docs/tiktok-api.md §3.2-§3.5).

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
import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from tikstream.jobs.models import AppEventsJob, EventsJob, WebEventsJob
from tikstream.mapping.normalise import Normaliser, Outcome, event_normaliser
from tikstream.records import Trigger, compile_path, parse_ts

__all__ = ["ARRAY_USER_FIELDS", "CONTENT_ALIASES", "EventMapper", "IdentifierCounts", "compile_events_job",
           "event_id"]

ARRAY_USER_FIELDS: Final = frozenset({"email", "phone", "external_id"})
"""``user`` fields TikTok takes as arrays of strings (docs/tiktok-api.md §3.4)."""

CONTENT_ALIASES: Final[Mapping[str, str]] = {
    "content_id": "content_id", "id": "content_id", "sku": "content_id", "product_id": "content_id",
    "content_name": "content_name", "name": "content_name", "title": "content_name",
    "content_category": "content_category", "category": "content_category",
    "content_type": "content_type", "brand": "brand",
    "price": "price", "quantity": "quantity", "qty": "quantity",
}  # fmt: skip
"""Item field of a ``contents`` list in the profile → TikTok ``contents[]`` field; other fields are left out."""

_OUTCOMES: Final = tuple(Outcome)
_EMPTY: Final[dict[str, Any]] = {}
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

    The per-trigger function is generated once per job version (``source`` shows it), the way ``dataclasses``
    builds ``__init__``: straight-line code with every path, field and normaliser bound in advance, no loop
    over the mapping and no attribute lookups (about half the cost of a generic interpreter of the mapping;
    the rest is the normalisers). Only generated names appear in the source; every value from the job is
    bound as a constant, so a job config cannot inject code. Never raises for a record's content.
    ``counts`` holds the identifier outcomes seen so far.
    """

    def __init__(self, job: EventsJob) -> None:
        self.job_id = job.id
        self.source_kind = job.source
        self.counts = IdentifierCounts(sorted(set(job.identifiers.values())))
        self.source, namespace = _generate(job, self.counts)
        exec(compile(self.source, f"<events mapper {job.id}>", "exec"), namespace)
        self.map: Callable[[Trigger], dict[str, Any] | None] = namespace["mapper"]

    def __call__(self, trigger: Trigger) -> dict[str, Any] | None:
        return self.map(trigger)


class _Source:
    """Generated source lines and the constants they use."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {}

    def const(self, value: object, prefix: str = "C") -> str:
        name = f"{prefix}{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def add(self, line: str, indent: int = 1) -> None:
        self.lines.append("    " * indent + line)

    def read(self, path: str, var: str, indent: int = 1) -> None:
        """``var = <value at path>``, read straight from the profile for ``user.x``."""
        key = _user_key(path)
        if key is not None:
            self.add(f"{var} = prof.get({self.const(key)})", indent)
        else:
            self.add(f"{var} = {self.const(compile_path(path), 'G')}(doc)", indent)


def _generate(job: EventsJob, counts: IdentifierCounts) -> tuple[str, dict[str, Any]]:
    src = _Source()
    src.add("def mapper(t):", 0)
    src.add(f"if t.event not in {src.const(frozenset(job.triggers))} or "
            f"t.audience not in {src.const(frozenset(job.audiences))}:")
    src.add("return None", 2)
    src.add(f"CALLS[0] += 1\n    if CALLS[0] >= {_COMPACT_EVERY}:\n        CALLS[0] = 0\n        COMPACT()")
    src.namespace.update(CALLS=[0], COMPACT=counts.compact, EMPTY=_EMPTY, ARRAY=_array_values,
                         EVENT_ID=event_id, EVENT_TIME=_event_time, TEXT=_text)
    src.add("doc = t.doc\n    prof = doc.get('user')\n    if type(prof) is not dict:\n        prof = EMPTY")
    src.add("user = {}")
    region = job.default_phone_region
    for path, field in job.identifiers.items():
        norm, rec, name = src.const(event_normaliser(field, region), "N"), src.const(counts.recorder(field)), \
            src.const(field)
        src.add(f"# user.{field} <- {path!r}")
        src.read(path, "raw")
        if field in ARRAY_USER_FIELDS:
            src.add(f"if type(raw) is list:\n        vals = ARRAY({norm}, raw, {rec})\n        if vals:\n"
                    f"            user[{name}] = vals\n    else:\n        v, o = {norm}(raw)\n        {rec}(o)\n"
                    f"        if v is not None:\n            user[{name}] = [v]")
        else:
            src.add(f"v, o = {norm}(raw)\n    {rec}(o)\n    if v is not None:\n        user[{name}] = v")
    if job.event_time_field:
        src.read(job.event_time_field, "raw")
        src.add("et = EVENT_TIME(raw, t.ts)")
    else:
        src.add("et = int(t.ts)")
    src.add(f"ev = {{'event': {src.const(job.event_name)}, 'event_time': et, "
            f"'event_id': EVENT_ID({src.const(job.id)}, t), 'user': user}}")
    if job.properties:
        src.add("props = {}")
        for path, prop in job.properties.items():
            src.add(f"# properties.{prop} <- {path!r}")
            src.read(path, "raw")
            convert = src.const(_PROPERTY_CONVERTERS.get(prop, _as_is), "P")
            src.add(f"if raw is not None:\n        props[{src.const(prop)}] = {convert}(raw)")
        src.add("if props:\n        ev['properties'] = props")
    _generate_section(job, src)
    if job.limited_data_use or job.source != "offline":
        src.add(f"ev['limited_data_use'] = {bool(job.limited_data_use)!r}")
    src.add("return ev")
    return "\n".join(src.lines) + "\n", src.namespace


def _generate_section(job: EventsJob, src: _Source) -> None:
    """``page`` for web, ``app`` for app (docs/tiktok-api.md §3.2); nothing for offline."""
    if isinstance(job, WebEventsJob):
        src.add("page = {}")
        for key, path in (("url", job.page_url_field), ("referrer", job.page_referrer_field)):
            if path:
                src.read(path, "raw")
                src.add(f"if raw is not None:\n        page[{key!r}] = TEXT(raw)")
        src.add("if page:\n        ev['page'] = page")
    elif isinstance(job, AppEventsJob):
        fixed: dict[str, Any] = {"app_name": job.app_name}
        if job.store_app_id is not None:
            fixed["app_id"] = job.store_app_id
        src.add(f"app = dict({src.const(fixed)})")
        if job.app_version_field:
            src.read(job.app_version_field, "raw")
            src.add("if raw is not None:\n        app['app_version'] = TEXT(raw)")
        src.add("ev['app'] = app")


def _event_time(raw: object, trigger_ts: float) -> int:
    """Integer Unix seconds from an RFC 3339 or epoch (s or ms) value; the trigger time when there is none."""
    if raw is not None and raw is not True and raw is not False:
        try:
            return int(parse_ts(raw))
        except ValueError:
            pass
    return int(trigger_ts)


def _user_key(path: str) -> str | None:
    """``x`` for the path ``user.x`` (read straight from the profile), else None (use the path's getter)."""
    parts = path.split(".")
    return parts[1] if len(parts) == 2 and parts[0] == "user" and not parts[1].isdigit() else None


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
    """Numbers as they are; a numeric string (ASCII, finite) as an int or a float; anything else unchanged."""
    if type(value) is not str:
        return value
    text = value.strip()
    if not text.isascii() or "_" in text:
        return value
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return value
    return number if math.isfinite(number) else value


def _integer(value: object) -> object:
    """Integers as they are; an integral float or a string of ASCII digits as an int; else unchanged."""
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is str and value.strip().isdigit() and value.isascii():
        return int(value)
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
