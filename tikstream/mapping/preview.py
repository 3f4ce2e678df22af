"""What a job makes of one trigger, explained: the event, where each mapped value came from, and every
identifier value that was dropped with its reason (for ``jobs preview`` and for tests).

The event is the real mapper's (``compile_events_job``); the provenance is worked out beside it, from the same
sources, so it never changes what is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tikstream.jobs.models import EventsJob, WebEventsJob
from tikstream.jobs.sources import Source, entries
from tikstream.mapping.compile import compile_events_job
from tikstream.mapping.convert import DERIVERS, url_param
from tikstream.records import Trigger, compile_path

__all__ = ["Preview", "absent_reason", "origins_of", "preview"]


@dataclass(frozen=True)
class Preview:
    """``event``: the ``data[]`` item, or None when the job does not take the trigger. ``origins``:
    ``"user.<field>"`` / ``"properties.<field>"`` → how its value was found (``path user.x``, ``url_param
    ttclid``, ``default``, ``const``, ``derive count``, or ``nothing`` when it was absent). ``dropped``: a
    ``(field, reason)`` pair per identifier value left out."""

    event: dict[str, Any] | None
    origins: dict[str, str]
    dropped: list[tuple[str, str]]


def _blank(value: object) -> bool:
    return value is None or (type(value) is str and not value.strip())


def _origin(source: Source, doc: dict[str, Any], url: object, contents: object) -> str:
    if source.has_const:
        return "const"
    if source.derive is not None:
        if DERIVERS[source.derive](contents) is not None:
            return f"derive {source.derive}"
        return "default" if source.default is not None else "nothing"
    if source.url_param is not None and url_param(url, source.url_param) is not None:
        return f"url_param {source.url_param}"
    if source.path is not None and not _blank(compile_path(source.path)(doc)):
        return f"path {source.path}"
    return "default" if source.default is not None else "nothing"


def origins_of(job: EventsJob, trigger: Trigger, event: dict[str, Any]) -> dict[str, str]:
    """``"user.<field>"`` / ``"properties.<field>"`` → how the value of ``event`` (mapped from ``trigger``) was
    found: ``path user.x``, ``url_param ttclid``, ``default``, ``const``, ``derive count``, or ``nothing``."""
    origins: dict[str, str] = {}
    doc = trigger.doc
    url = compile_path(job.page_url_field)(doc) if isinstance(job, WebEventsJob) else None
    contents = event.get("properties", {}).get("contents")
    for prefix, mapping in (("user", job.identifiers), ("properties", job.properties)):
        for target, source in entries(mapping):
            origins[f"{prefix}.{target}"] = _origin(source, doc, url, contents)
    return origins


def absent_reason(job: EventsJob, field: str, trigger: Trigger) -> str:
    """Why the mapped ``field`` (``user.x`` or ``properties.x``) has no value in ``trigger``: ``empty`` (a blank
    string at its path), ``no contents to derive from`` or ``missing`` (absent or null)."""
    prefix, target = field.split(".", 1)
    mapping = job.identifiers if prefix == "user" else job.properties
    source = next(s for t, s in entries(mapping) if t == target)
    if source.derive is not None:
        return "no contents to derive from"
    value = compile_path(source.path)(trigger.doc) if source.path is not None else None
    return "empty" if type(value) is str else "missing"


def preview(job: EventsJob, trigger: Trigger) -> Preview:
    """Map ``trigger`` with ``job`` (compiled afresh, so its counts are this trigger's alone)."""
    mapper = compile_events_job(job)
    event = mapper(trigger)
    dropped = [(field, reason) for (field, reason), n in sorted(mapper.counts.take_drops().items())
               for _ in range(n)]
    return Preview(event, origins_of(job, trigger, event) if event is not None else {}, dropped)
