"""Running triggers through one job for a preview: decode and route here, the rest in the job kind's previewer.

A previewer is built per preview from the job (``PREVIEWERS``, keyed by ``kind_of(job)``), takes the triggers
the job routes (``take``) and then gives the requests (``requests``). A kind without a previewer is refused
with a ``ConfigError`` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from tikstream.errors import ConfigError, InvalidRecord
from tikstream.jobs.models import AnyJob, AudienceExportJob
from tikstream.preview.audience import FilePreview
from tikstream.preview.events import EventsPreview
from tikstream.preview.report import Dropped, Report, Request, TriggerReport
from tikstream.preview.streaming import StreamingPreview
from tikstream.records import Partition, Trigger, decode
from tikstream.routing import Route, RoutingTable

__all__ = ["PREVIEWERS", "Input", "Previewer", "kind_of", "preview_job"]


@dataclass(frozen=True, slots=True)
class Input:
    """One trigger record: where it was read (a file's line number, or ``partition:offset``), its value and its
    Kafka timestamp (ms; None for a file)."""

    where: int | str
    value: bytes | None
    timestamp_ms: int | None = None


class Previewer(Protocol):
    """One job kind's preview. ``take`` maps one routed trigger and records in ``report`` what was left out and
    why (and notes); ``requests`` then gives every request, batched as the job's sink batches them (as if all
    the triggers arrived at once). ``notes`` are about the whole preview."""

    notes: list[str]

    def take(self, trigger: Trigger, report: TriggerReport) -> None: ...

    def requests(self) -> list[Request]: ...


PREVIEWERS: dict[str, Callable[[AnyJob], Previewer]] = {
    "events": lambda job: EventsPreview(job),  # type: ignore[arg-type]
    "delivery: file": lambda job: FilePreview(job),  # type: ignore[arg-type]
    "delivery: streaming": lambda job: StreamingPreview(job),  # type: ignore[arg-type]
}
"""``kind_of(job)`` → the previewer of that kind of job."""


def kind_of(job: AnyJob) -> str:
    """``events`` for an events job; ``delivery: <delivery>`` for an audience (``file`` unless the job says)."""
    if isinstance(job, AudienceExportJob):
        return f"delivery: {getattr(job, 'delivery', 'file')}"
    return "events"


class _Nowhere:
    def submit(self, trigger: Trigger, partition: Partition, offset: int) -> None:
        """Routes only say who wants a trigger here; the previewer takes it."""


def preview_job(job: AnyJob, inputs: Iterable[Input]) -> Report:
    """What ``job`` would send for ``inputs``; raises ``ConfigError`` for a kind of job without a previewer.
    The job's ``created_at`` is not applied (every trigger counts as produced after it), nor is ``enabled``
    (a disabled job is previewed as if enabled, with a note): a preview is for before turning a job on."""
    kind = kind_of(job)
    factory = PREVIEWERS.get(kind)
    if factory is None:
        raise ConfigError(f"preview of {kind} is not available in this build")
    previewer = factory(job)
    table = RoutingTable([(job.audiences, Route(job.id, job.type, frozenset(job.triggers), 0.0, _Nowhere()))])
    reports: list[TriggerReport] = []
    for item in inputs:
        report = TriggerReport(item.where, routed=False)
        reports.append(report)
        try:
            trigger = decode(item.value, item.timestamp_ms)
        except InvalidRecord as exc:
            report.dropped.append(Dropped("record", f"{exc.reason}: {exc.detail} (dead-lettered)"))
            continue
        if not table.route(trigger.audience, trigger.event, math.inf):
            report.dropped.append(_not_routed(job, trigger))
            continue
        report.routed = True
        previewer.take(trigger, report)
    notes = list(previewer.notes)
    if not job.enabled:
        notes.append("the job is disabled (enabled: false): a real run sends nothing until it is enabled")
    return Report(job.id, kind, previewer.requests(), reports, notes)


def _not_routed(job: AnyJob, trigger: Trigger) -> Dropped:
    if trigger.audience not in job.audiences:
        wanted = ", ".join(repr(a) for a in job.audiences)
        return Dropped("audience", f"not routed: audience {trigger.audience!r} is not the job's ({wanted})")
    kinds = " and ".join(job.triggers)
    return Dropped("event", f"not routed: an {trigger.event} trigger; the job takes {kinds} triggers")
