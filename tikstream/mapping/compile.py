"""A job version compiled once into a fast function: trigger → TikTok Events API 2.0 ``data[]`` item.

``compile_events_job(job)`` resolves everything that does not depend on the record up front: each mapping
entry (``tikstream.jobs.sources``) becomes a read of a record path, a constant, a page-URL parameter or a
derivation; each ``user`` field gets its normaliser (``tikstream.mapping.normalise``, by the job's
``phone_policy`` and ``device_id_policy``), each ``properties`` field its converter
(``tikstream.mapping.convert``), and all of it is generated into one straight-line function
(``EventMapper``); per trigger it only reads, normalises and assembles (docs/tiktok-api.md §3.2-§3.5).

Rules the mapper applies to every trigger:

* Filter: a trigger of an audience or kind (``enter``/``exit``) the job does not want maps to None.
* ``event_time``: integer Unix seconds from ``event_time_field`` (RFC 3339, epoch seconds or milliseconds);
  a missing or unreadable value falls back to the trigger time.
* ``event_id``: the value at ``event_id_field`` as a string (a number in decimal) when the job has one and
  the record gives a non-blank string or a number there; else :func:`event_id`. Both are the same on every
  replay of the trigger.
* A source's ``default`` is used when its path (or URL parameter) gives nothing: null, absent, or a blank
  string. ``url_param`` is read first, then ``path``.
* ``user``: each mapped value is normalised and hashed where TikTok wants it. ``email``, ``phone`` and
  ``external_id`` are lists (TikTok takes arrays; a list in the profile gives several values). A value that
  cannot be used (a phone the policy drops, a malformed email) is left out, never sent wrong; every value is
  counted by outcome in :class:`IdentifierCounts`, and every dropped one by its reason
  (``tikstream.mapping.reasons``), aggregated locally and flushed in bulk.
* ``properties``: converted by kind; ``0`` and ``false`` are values, only a missing (null) value is left
  out. ``mileage.value`` and ``mileage.unit`` go into one ``mileage`` object. Derived fields come last,
  computed from the event's ``contents``.
* ``page`` (web), ``app`` (app) and ``limited_data_use`` from the job.
* ``lead`` (crm): ``lead_id`` from ``lead_id_field`` as a string, ``lead_event_source`` from the job. A crm
  trigger without a lead id raises ``InvalidRecord("missing_lead_id", ...)`` (the poll loop dead-letters it):
  TikTok requires the field, so the event could never be accepted.

Not guaranteed: that TikTok accepts a property whose profile value has the wrong shape (a dict for
``value``): it is sent as found and a rejection sends the event to the DLQ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Final

from tikstream.errors import InvalidRecord
from tikstream.jobs.models import AppEventsJob, CrmEventsJob, EventsJob, WebEventsJob
from tikstream.jobs.sources import Source, entries
from tikstream.mapping.convert import CONTENT_ALIASES, DERIVERS, converter, event_id_text, text, url_param
from tikstream.mapping.counts import IdentifierCounts
from tikstream.mapping.normalise import Normaliser, Outcome, event_normaliser
from tikstream.mapping.reasons import drop_explainer
from tikstream.records import Trigger, compile_path, parse_ts

__all__ = ["ARRAY_USER_FIELDS", "CONTENT_ALIASES", "EventMapper", "IdentifierCounts", "compile_events_job",
           "event_id", "user_normaliser"]

ARRAY_USER_FIELDS: Final = frozenset({"email", "phone", "external_id"})
"""``user`` fields TikTok takes as arrays of strings (docs/tiktok-api.md §3.4)."""

_EMPTY: Final[dict[str, Any]] = {}
_blake2b = hashlib.blake2b
_COMPACT_EVERY: Final = 1 << 16
_MILEAGE: Final = {"mileage.value": "value", "mileage.unit": "unit"}


def event_id(job_id: str, trigger: Trigger) -> str:
    """The event id of ``trigger`` for ``job_id``: 32 hex characters of a BLAKE2b-128 digest of the job,
    audience, enter/exit, trigger time (ms) and user, so it is the same on every replay and carries no PII.
    (The user id comes last: it is the only free-form part, so no two triggers share the digested text.)"""
    key = f"{job_id}|{trigger.audience}|{trigger.event}|{round(trigger.ts * 1000)}|{trigger.user_id}"
    return _blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class EventMapper:
    """``mapper(trigger)`` → the ``data[]`` item (a new dict) or None when the job does not want the trigger.

    The per-trigger function is generated once per job version (``source`` shows it), the way ``dataclasses``
    builds ``__init__``: straight-line code with every path, field and normaliser bound in advance, no loop
    over the mapping and no attribute lookups (about half the cost of a generic interpreter of the mapping;
    the rest is the normalisers). Only generated names appear in the source; every value from the job is
    bound as a constant, so a job config cannot inject code. Never raises for a record's content, except
    ``InvalidRecord`` for a crm trigger without a lead id; ``check`` finds that one ahead of mapping, so a sink
    that maps a whole batch later (``tikstream.mapping.native.BatchMapper``) refuses the one record at once.
    ``counts`` holds the identifier outcomes seen so far.
    """

    def __init__(self, job: EventsJob) -> None:
        self.job_id = job.id
        self.source_kind = job.source
        self.counts = IdentifierCounts(sorted({target for target, _ in entries(job.identifiers)}))
        self.source, namespace = _generate(job, self.counts)
        exec(compile(self.source, f"<events mapper {job.id}>", "exec"), namespace)
        self.map: Callable[[Trigger], dict[str, Any] | None] = namespace["mapper"]
        self.check: Callable[[Trigger], None] | None = _lead_check(job) if isinstance(job, CrmEventsJob) else None

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

    def source(self, source: Source, var: str) -> None:
        """``var = <the value source gives>``, before normalising or converting (the default included)."""
        if source.has_const:
            self.add(f"{var} = {self.const(source.const)}")
            return
        if source.url_param is not None:
            self.add(f"{var} = URL_PARAM(url, {self.const(source.url_param)})")
            if source.path is not None:
                self.add(f"if {var} is None:")
                self.read(source.path, var, 2)
        elif source.path is not None:
            self.read(source.path, var)
        if source.default is not None:
            self.add(f"if {var} is None or (type({var}) is str and not {var}.strip()):\n"
                     f"        {var} = {self.const(source.default)}")


def _generate(job: EventsJob, counts: IdentifierCounts) -> tuple[str, dict[str, Any]]:
    src = _Source()
    src.add("def mapper(t):", 0)
    src.add(f"if t.event not in {src.const(frozenset(job.triggers))} or "
            f"t.audience not in {src.const(frozenset(job.audiences))}:")
    src.add("return None", 2)
    src.add(f"CALLS[0] += 1\n    if CALLS[0] >= {_COMPACT_EVERY}:\n        CALLS[0] = 0\n        COMPACT()")
    src.namespace.update(CALLS=[0], COMPACT=counts.compact, EMPTY=_EMPTY, ARRAY=_array_values,
                         EVENT_ID=event_id, EVENT_TIME=_event_time, TEXT=text, EVENT_ID_TEXT=event_id_text,
                         URL_PARAM=url_param, INV=Outcome.INVALID)
    src.add("doc = t.doc\n    prof = doc.get('user')\n    if type(prof) is not dict:\n        prof = EMPTY")
    if isinstance(job, CrmEventsJob):
        _generate_lead(job, src)
    src.add("user = {}")
    if isinstance(job, WebEventsJob) and any(
        source.url_param is not None for _, source in (*entries(job.identifiers), *entries(job.properties))
    ):
        src.read(job.page_url_field, "url")
    for field, source in entries(job.identifiers):
        _generate_user_field(job, src, counts, field, source)
    if job.event_time_field:
        src.read(job.event_time_field, "raw")
        src.add("et = EVENT_TIME(raw, t.ts)")
    else:
        src.add("et = int(t.ts)")
    event_id_code = f"EVENT_ID({src.const(job.id)}, t)"
    if job.event_id_field:
        src.read(job.event_id_field, "raw")
        src.add(f"eid = EVENT_ID_TEXT(raw)\n    if eid is None:\n        eid = {event_id_code}")
        event_id_code = "eid"
    src.add(f"ev = {{'event': {src.const(job.event_name)}, 'event_time': et, "
            f"'event_id': {event_id_code}, 'user': user}}")
    if job.properties:
        _generate_properties(job, src)
    _generate_section(job, src)
    if isinstance(job, CrmEventsJob):
        src.add("ev['lead'] = lead")
    if job.limited_data_use or job.source in ("web", "app"):
        src.add(f"ev['limited_data_use'] = {bool(job.limited_data_use)!r}")
    src.add("return ev")
    return "\n".join(src.lines) + "\n", src.namespace


def user_normaliser(job: EventsJob, field: str) -> Normaliser:
    """The normaliser of the ``user`` field ``field`` of ``job``, by the job's region and policies."""
    return event_normaliser(field, job.default_phone_region, phone_policy=job.phone_policy,
                            device_id_policy=getattr(job, "device_id_policy", "uuid"))


def _generate_user_field(job: EventsJob, src: _Source, counts: IdentifierCounts, field: str,
                         source: Source) -> None:
    explain = drop_explainer(field, job.default_phone_region, phone_policy=job.phone_policy,
                             device_id_policy=getattr(job, "device_id_policy", "uuid"))
    norm, rec, name = src.const(user_normaliser(job, field), "N"), src.const(counts.recorder(field)), \
        src.const(field)
    drop = src.const(counts.dropper(field, explain), "D")
    src.add(f"# user.{field} <- {_describe(source)}")
    src.source(source, "raw")
    if field in ARRAY_USER_FIELDS:
        src.add(f"if type(raw) is list:\n        vals = ARRAY({norm}, raw, {rec}, {drop})\n        if vals:\n"
                f"            user[{name}] = vals\n    else:\n        v, o = {norm}(raw)\n        {rec}(o)\n"
                f"        if v is not None:\n            user[{name}] = [v]\n        elif o is INV:\n"
                f"            {drop}(raw)")
    else:
        src.add(f"v, o = {norm}(raw)\n    {rec}(o)\n    if v is not None:\n        user[{name}] = v\n"
                f"    elif o is INV:\n        {drop}(raw)")


def _generate_properties(job: EventsJob, src: _Source) -> None:
    src.add("props = {}")
    derived: list[tuple[str, Source]] = []
    for prop, source in entries(job.properties):
        if source.derive is not None:
            derived.append((prop, source))
            continue
        src.add(f"# properties.{prop} <- {_describe(source)}")
        src.source(source, "raw")
        convert = src.const(converter(prop), "P")
        if prop in _MILEAGE:
            src.add(f"if raw is not None:\n        props.setdefault('mileage', {{}})[{_MILEAGE[prop]!r}] = "
                    f"{convert}(raw)")
        else:
            src.add(f"if raw is not None:\n        props[{src.const(prop)}] = {convert}(raw)")
    for prop, source in derived:
        src.add(f"# properties.{prop} <- {_describe(source)}")
        src.add(f"raw = {src.const(DERIVERS[source.derive or ''], 'DV')}(props.get('contents'))")
        if source.default is not None:
            src.add(f"if raw is None:\n        raw = {src.const(source.default)}")
        src.add(f"if raw is not None:\n        props[{src.const(prop)}] = raw")
    src.add("if props:\n        ev['properties'] = props")


def _describe(source: Source) -> str:
    """A comment for the generated source (``repr`` only: no job text can end the comment line)."""
    return repr({k: v for k, v in (("path", source.path), ("const", source.const if source.has_const else None),
                                   ("default", source.default), ("derive", source.derive),
                                   ("url_param", source.url_param)) if v is not None})


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


def _generate_lead(job: CrmEventsJob, src: _Source) -> None:
    """``lead = {lead_id, lead_event_source}``, or ``InvalidRecord`` when the record has no lead id (first,
    so that a dead-lettered trigger counts no identifier)."""
    src.namespace.update(MISSING_LEAD=_missing_lead)
    src.read(job.lead_id_field, "raw")
    src.add(f"lid = EVENT_ID_TEXT(raw)\n    if lid is None:\n        MISSING_LEAD({src.const(job.id)}, "
            f"{src.const(job.lead_id_field)})")
    src.add(f"lead = {{'lead_id': lid, 'lead_event_source': {src.const(job.lead_event_source)}}}")


def _lead_check(job: CrmEventsJob) -> Callable[[Trigger], None]:
    """Raises what the generated mapper raises for a crm trigger without a lead id (the same path and text
    rule), without mapping it."""
    lead_id = compile_path(job.lead_id_field)

    def check(trigger: Trigger) -> None:
        if event_id_text(lead_id(trigger.doc)) is None:
            _missing_lead(job.id, job.lead_id_field)

    return check


def _missing_lead(job_id: str, path: str) -> None:
    raise InvalidRecord("missing_lead_id", f"crm_events job {job_id}: no lead id at {path} "
                                           "(TikTok requires lead.lead_id on crm events)")


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


def _array_values(normalise: Normaliser, raw: list[object], record: Callable[[Outcome], None],
                  drop: Callable[[object], None]) -> list[str]:
    values: list[str] = []
    if not raw:
        record(Outcome.MISSING)
    for element in raw:
        value, outcome = normalise(element)
        record(outcome)
        if value is not None:
            if value not in values:
                values.append(value)
        elif outcome is Outcome.INVALID:
            drop(element)
    return values


def compile_events_job(job: EventsJob) -> EventMapper:
    """Compile ``job`` once (raises ``ValueError`` for an unknown field or region, which validation
    prevents); call the result per trigger."""
    return EventMapper(job)
