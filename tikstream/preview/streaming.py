"""Preview of a streaming audience (``delivery: streaming``): the ``/segment/mapping/`` bodies, made by the
audience sink's own preview (``preview_streaming`` in ``tikstream.sinks.audience.preview``, which runs the
triggers through the streaming sink, its batches and the writer's body).

The triggers are handed over together, once all are taken, since the sink's batch decides which of a user's
triggers wins.
"""

from __future__ import annotations

from tikstream.jobs.models import AudienceExportJob
from tikstream.preview.report import Dropped, Request, TriggerReport
from tikstream.records import Trigger
from tikstream.sinks.audience.preview import preview_streaming

__all__ = ["StreamingPreview"]


class StreamingPreview:
    def __init__(self, job: AudienceExportJob) -> None:
        self._job = job
        self._taken: list[tuple[TriggerReport, Trigger]] = []
        self.notes: list[str] = []

    def take(self, trigger: Trigger, report: TriggerReport) -> None:
        self._taken.append((report, trigger))

    def requests(self) -> list[Request]:
        result = preview_streaming(self._job, [(str(r.offset_or_line), t) for r, t in self._taken])
        for (report, _), note in zip(self._taken, result.triggers, strict=True):
            report.routed = bool(note.routed)
            report.dropped.extend(Dropped(d.field, d.reason) for d in note.dropped)
            if note.reason:
                report.notes.append(note.reason)
        return [Request(r["method"], r["path"], r["body"]) for r in result.requests]
