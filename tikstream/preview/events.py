"""Preview of an events job: the ``/event/track/`` bodies, built as the events sink builds them.

Each trigger is mapped by the job's compiled mapper (``tikstream.mapping.compile``) and serialised once into an
``Item``; the items are cut into batches of ``batch_max_events`` and each body is joined inside the job's
envelope by the sink's own ``build_body``. A trigger the mapper refuses (a crm trigger without its lead id) is
reported as dead-lettered.
"""

from __future__ import annotations

from typing import Any

import orjson

from tikstream.errors import InvalidRecord
from tikstream.jobs.models import EventsJob
from tikstream.mapping.compile import compile_events_job
from tikstream.mapping.preview import absent_reason, origins_of
from tikstream.preview.report import Dropped, Request, TriggerReport
from tikstream.records import Trigger
from tikstream.sinks.events.batch import Item, body_envelope, build_body

__all__ = ["EventsPreview"]

TRACK_PATH = "/event/track/"


class EventsPreview:
    def __init__(self, job: EventsJob) -> None:
        self._job = job
        self._mapper = compile_events_job(job)
        self._items: list[Item] = []
        self.notes: list[str] = []

    def take(self, trigger: Trigger, report: TriggerReport) -> None:
        try:
            event = self._mapper(trigger)
        except InvalidRecord as exc:
            report.dropped.append(Dropped("lead.lead_id", f"{exc.reason}: {exc.detail} (dead-lettered)"))
            return
        finally:
            drops = self._mapper.counts.take_drops()
        if event is None:  # routing already checked audience and kind; the mapper agrees
            report.routed = False
            return
        for (field, reason), n in sorted(drops.items()):
            report.dropped.extend([Dropped(f"user.{field}", reason)] * n)
        for field, origin in origins_of(self._job, trigger, event).items():
            if origin == "nothing":
                report.dropped.append(Dropped(field, absent_reason(self._job, field, trigger)))
            elif not origin.startswith("path "):
                report.notes.append(f"{field} = {_shown(_value(event, field))} ({origin})")
        self._items.append(Item(orjson.dumps(event), ("preview", 0), len(self._items), trigger))

    def requests(self) -> list[Request]:
        job = self._job
        envelope = body_envelope(job.source, job.event_source_id, job.test_event_code)
        size = job.batch_max_events
        return [
            Request("POST", TRACK_PATH, orjson.loads(build_body(envelope, self._items[i:i + size])))
            for i in range(0, len(self._items), size)
        ]


def _value(event: dict[str, Any], field: str) -> object:
    prefix, name = field.split(".", 1)
    section = event.get(prefix, {})
    if name.startswith("mileage."):
        return section.get("mileage", {}).get(name.split(".", 1)[1])
    return section.get(name)


def _shown(value: object) -> str:
    text = orjson.dumps(value).decode()
    return text if len(text) <= 80 else text[:77] + "..."
