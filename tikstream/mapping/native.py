"""Events mapped a batch at a time by the native core (the ``tikstream_native`` extension, Rust, in ``native/``).

``BatchMapper(job, mapper)`` maps a list of triggers to their events' JSON bytes (or None: the job does not want
that trigger). For a job the core handles (:func:`native_spec`), it hands the batch's raw record values to the
core once: it decodes, reads the paths, normalises, hashes and serialises each event, byte for byte what
``orjson.dumps(mapper(trigger))`` gives (``tests/mapping/test_native_differential.py`` holds it to that).
Per record, the core may answer "not here" instead; that record is mapped by the Python ``EventMapper``, so
nothing depends on the core knowing a case. It answers "not here" for a record with any *invalid* identifier
value (Python tells the drop reason and counts it), and for shapes it does not handle: non-ASCII email, phone,
device id or ``att_status`` text, an IP that is not dotted IPv4, a numeric string or a float where a text is
expected, a float outside orjson's plain-decimal range (1e-5 to 1e16), an RFC 3339 ``event_time_field``
value, a float ``event_id_field`` value. Phones it cannot decide exactly (fewer than three digits, a pattern
the ``regex`` crate does not compile) are asked of the Python path, value by value (with its cache).

Jobs the core does not handle at all use the Python mapper for every trigger (``why_not`` says why):
``const``/``default``/``derive``/``url_param`` sources, the user fields ``first_name``, ``last_name``,
``zip_code``, ``city``, ``state``, ``country``, and property kinds other than numbers, texts and currencies
(``contents``, lists, enumerations, ``mileage``). It handles web, app and offline jobs.

Phones: the core reads the same metadata as ``phonenumbers`` (handed over once per process by
:func:`load_phones`, not compiled in), so both decide with the same data.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any, Final

import orjson
import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

from tikstream.jobs.models import AppEventsJob, EventsJob, WebEventsJob
from tikstream.jobs.sources import Source, entries
from tikstream.mapping import convert
from tikstream.mapping.compile import ARRAY_USER_FIELDS, EventMapper
from tikstream.mapping.normalise import normalise_region
from tikstream.mapping.phones import phone_e164
from tikstream.records import Trigger

try:
    import tikstream_native as _native
except ImportError:  # pragma: no cover - `make setup` builds it; without it every job maps in Python
    _native = None

__all__ = ["AVAILABLE", "BatchMapper", "load_phones", "native_spec"]

log = logging.getLogger(__name__)

AVAILABLE: Final = _native is not None
"""Whether the extension is installed (``make setup`` builds it with cargo and maturin)."""

_USER_KINDS: Final = {
    "email": "email", "phone": "phone", "external_id": "external_id", "ip": "ip",
    "user_agent": "text", "ttclid": "text", "ttp": "text", "locale": "text", "idfv": "text", "att_status": "att",
    "idfa": "maid", "gaid": "maid",
}  # fmt: skip
_PROPERTY_KINDS: Final[dict[Callable[[object], object], str]] = {
    convert.number: "number", convert.text: "text", convert.currency: "currency",
}
_DESC_TYPES: Final = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
                      "voicemail")
_dumps = orjson.dumps


def _desc(desc: Any) -> tuple[str | None, list[int], list[int]] | None:
    if desc is None:
        return None
    return desc.national_number_pattern, list(desc.possible_length), list(desc.possible_length_local_only)


def _meta(m: Any) -> tuple[Any, ...]:
    return (m.country_code, m.international_prefix, m.national_prefix_for_parsing, m.national_prefix_transform_rule,
            m.leading_digits, bool(m.same_mobile_and_fixed_line_pattern), _desc(m.general_desc),
            [_desc(getattr(m, name)) for name in _DESC_TYPES], _desc(m.fixed_line), _desc(m.mobile))


@functools.cache
def load_phones() -> None:
    """Hand the installed ``phonenumbers`` metadata to the core (once per process; about a second)."""
    if _native is None:
        raise RuntimeError("the tikstream_native extension is not installed (make setup builds it)")
    regions = {r: _meta(PhoneMetadata.metadata_for_region(r)) for r in phonenumbers.SUPPORTED_REGIONS}
    nongeo = {cc: _meta(PhoneMetadata.metadata_for_nongeo_region(cc))
              for cc in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS}
    cc_regions = {cc: list(rs) for cc, rs in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()}
    _native.load_phones(cc_regions, regions, nongeo)


def _plain_path(source: Source) -> str | None:
    if source.has_const or source.default is not None or source.derive is not None or source.url_param:
        return None
    return source.path


def native_spec(job: EventsJob) -> tuple[dict[str, Any] | None, str]:
    """(the core's description of ``job``, "") or (None, why the core does not handle it)."""
    if job.source == "crm":
        return None, "crm events (the lead section)"
    user = []
    for field, source in entries(job.identifiers):
        path = _plain_path(source)
        if path is None or field not in _USER_KINDS:
            return None, f"the user field {field!r} ({source.kind})"
        kind = _USER_KINDS[field]
        if kind == "maid" and getattr(job, "device_id_policy", "uuid") == "any":
            kind = "maid_any"
        user.append((field, kind, field in ARRAY_USER_FIELDS, path.split(".")))
    properties = []
    for prop, source in entries(job.properties):
        path = _plain_path(source)
        converts = None if prop.startswith("mileage.") else _PROPERTY_KINDS.get(convert.converter(prop))
        if path is None or converts is None:
            return None, f"the property {prop!r} ({source.kind})"
        properties.append((prop, converts, path.split(".")))
    return {
        "job_id": job.id, "event_name": job.event_name, "events": sorted(job.triggers),
        "audiences": sorted(job.audiences), "user": user, "properties": properties, "section": _section(job),
        "event_time": job.event_time_field.split(".") if job.event_time_field else None,
        "event_id": job.event_id_field.split(".") if job.event_id_field else None,
        "limited_data_use": bool(job.limited_data_use) if job.limited_data_use or job.source != "offline" else None,
        "phone_region": normalise_region(job.default_phone_region), "phone_policy": job.phone_policy,
    }, ""  # fmt: skip


def _section(job: EventsJob) -> tuple[str, str, list[tuple[str, list[str]]]] | None:
    """``page`` (web) or ``app`` (app) as (name, the job's fixed entries as JSON without braces, texts by
    path), in ``compile._generate_section``'s order."""
    if isinstance(job, WebEventsJob):
        return "page", "", [(key, path.split(".")) for key, path in (("url", job.page_url_field),
                                                                     ("referrer", job.page_referrer_field)) if path]
    if isinstance(job, AppEventsJob):
        fixed: dict[str, str] = {"app_name": job.app_name}
        if job.store_app_id is not None:
            fixed["app_id"] = job.store_app_id
        texts = [("app_version", job.app_version_field.split("."))] if job.app_version_field else []
        return "app", orjson.dumps(fixed).decode()[1:-1], texts
    return None


class BatchMapper:
    """``batch(triggers)`` → each trigger's event as JSON bytes, or None when the job does not want it.

    ``mapper`` is the job's Python ``EventMapper``: it maps what the core leaves, and its ``counts`` receive
    the core's identifier outcomes. ``native`` False (or no extension) maps everything in Python.
    Not thread-safe: one sink, one thread.
    """

    def __init__(self, job: EventsJob, mapper: EventMapper, *, native: bool = True) -> None:
        self._map = mapper.map
        self._counts = mapper.counts
        spec, self.why_not = native_spec(job) if native and _native is not None else (None, "native core off")
        self._core: Any = None
        if spec is not None:
            if any(kind == "phone" for _, kind, _, _ in spec["user"]) and job.phone_policy != "e164":
                load_phones()
            self._fields = [field for field, _, _, _ in spec["user"]]
            self._core = _native.Mapper(spec, functools.partial(
                phone_e164, region=spec["phone_region"], policy=job.phone_policy))
        elif native and _native is None:
            log.warning("the native events core is not installed (make setup builds it): mapping in Python",
                        extra={"job": job.id})
        elif native:
            log.info("events job maps in Python", extra={"job": job.id, "reason": self.why_not})

    @property
    def native(self) -> bool:
        return self._core is not None

    def __call__(self, triggers: Sequence[Trigger]) -> list[bytes | None]:
        mapper = self._map
        if self._core is None:
            return [None if (event := mapper(t)) is None else _dumps(event) for t in triggers]
        bodies, counts = self._core.map_batch([t.raw for t in triggers], [t.ts for t in triggers])
        if False in bodies:
            for i, body in enumerate(bodies):
                if body is False:
                    event = mapper(triggers[i])
                    bodies[i] = None if event is None else _dumps(event)
        add = self._counts.add
        for i, field in enumerate(self._fields):
            add(field, counts[5 * i:5 * i + 5])
        return bodies  # type: ignore[no-any-return]
