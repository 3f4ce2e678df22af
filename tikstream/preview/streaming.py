"""Preview of a streaming audience (``delivery: streaming``): the ``/segment/mapping/`` bodies, made by the
audience sink's own preview (``preview_streaming`` in ``tikstream.sinks.audience.preview``, which runs the
triggers through the streaming sink, its batches and the writer's body).

That module belongs to the streaming delivery; a build without it answers ``preview of delivery: streaming is
not available in this build``. The triggers are handed over together, once all are taken, since the sink's
batch decides which of a user's triggers wins.
"""

from __future__ import annotations

import importlib
from typing import Any

from tikstream.errors import ConfigError
from tikstream.jobs.models import AudienceExportJob
from tikstream.preview.report import Dropped, Request, TriggerReport
from tikstream.records import Trigger

__all__ = ["SINK_PREVIEW", "StreamingPreview"]

SINK_PREVIEW = "tikstream.sinks.audience.preview"


class StreamingPreview:
    def __init__(self, job: AudienceExportJob) -> None:
        try:
            self._preview: Any = importlib.import_module(SINK_PREVIEW).preview_streaming
        except (ImportError, AttributeError):
            raise ConfigError("preview of delivery: streaming is not available in this build") from None
        self._job = job
        self._taken: list[tuple[TriggerReport, Trigger]] = []
        self.notes: list[str] = []

    def take(self, trigger: Trigger, report: TriggerReport) -> None:
        self._taken.append((report, trigger))

    def requests(self) -> list[Request]:
        result = self._preview(self._job, [(str(r.offset_or_line), t) for r, t in self._taken])
        for (report, _), note in zip(self._taken, result.triggers, strict=True):
            report.routed = bool(note.routed)
            report.dropped.extend(Dropped(d.field, d.reason) for d in note.dropped)
            if note.reason:
                report.notes.append(note.reason)
        return [Request(r["method"], r["path"], r["body"]) for r in result.requests]
