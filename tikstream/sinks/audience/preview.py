"""What a streaming audience job would send, without sending anything: the ``/segment/mapping/`` requests for
given triggers (for ``tikstream jobs preview``).

The triggers go through the job's real path: the routing rule (``RoutingTable``, as if produced now), the
sink (``AudienceExportSink``: on-disk batch, a user's last trigger wins, sealed at ``stream_batch_max`` users),
the ``Streamer`` (requests of at most ``stream_batch_max`` rows, adds before deletes) and the body the single
writer sends (``segment.mapping_body``). Only the outside world is replaced: the ops topic by a list, TikTok's
audience id by ``audience_id``, and time: every trigger counts as arriving at once, so ``stream_linger_ms``
never seals a batch early (a real run may cut the same triggers into more, smaller requests).

Not shown: exits without identifiers whose user entered in an earlier batch; a real run finds their hashes in
the membership table when it ships (each such trigger says so).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from tikstream.jobs.models import AudienceExportJob
from tikstream.records import Partition, Trigger
from tikstream.routing import Route, RoutingTable
from tikstream.sinks.audience.ops import Op
from tikstream.sinks.audience.segment import SegmentLayout, mapping_body
from tikstream.sinks.audience.sink import AudienceExportSink, Sealed
from tikstream.sinks.audience.streamer import Streamer

__all__ = ["AUDIENCE_ID", "MAPPING_PATH", "Dropped", "Preview", "TriggerNote", "preview_streaming"]

AUDIENCE_ID: Final = "<audience_id>"
MAPPING_PATH: Final = "/segment/mapping/"
_PARTITION: Final[Partition] = ("preview", 0)
_LEFT_OUT: Final = ("invalid", "missing")


@dataclass(frozen=True, slots=True)
class Dropped:
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class TriggerNote:
    """One trigger: ``where`` it came from (a line or an offset), whether the job takes it, why not, and the
    identifiers left out of its row."""

    where: str
    routed: bool
    reason: str = ""
    dropped: tuple[Dropped, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"offset_or_line": self.where, "routed": self.routed, "reason": self.reason,
                "dropped": [{"field": d.field, "reason": d.reason} for d in self.dropped]}


@dataclass(frozen=True, slots=True)
class Preview:
    requests: list[dict[str, Any]] = field(default_factory=list)  # {"method", "path", "body"}
    triggers: list[TriggerNote] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "triggers": [t.as_dict() for t in self.triggers]}


class _Stored:
    """The ops topic of a preview: a list; every operation counts as applied at once."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def put_op(self, op: Op) -> int:
        self.ops.append(op)
        return len(self.ops) - 1

    def keep(self, file_id: str, data: bytes) -> None:
        raise AssertionError("a preview keeps every request inline")

    def applied(self, offset: int) -> bool:
        return True

    def close(self) -> None:
        pass


class _AtOnce:
    """An executor that runs each batch as it is sealed."""

    def submit(self, fn: Any, arg: Sealed) -> Future[int]:
        done: Future[int] = Future()
        done.set_result(fn(arg))
        return done

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass


def preview_streaming(job: AudienceExportJob, triggers: Iterable[tuple[str, Trigger]], *,
                      audience_id: str = AUDIENCE_ID, workdir: Path | None = None) -> Preview:
    """The requests ``job`` (``delivery: streaming``) would send for ``triggers`` ((where, trigger) pairs, in
    order), and a note per trigger. Raises ``ValueError`` for a job that does not stream."""
    if job.delivery != "streaming":
        raise ValueError(f"job {job.id!r} delivers by files, not streaming")
    with tempfile.TemporaryDirectory(prefix="tikstream-preview-", dir=workdir) as scratch:
        return _run(job, triggers, audience_id, Path(scratch))


def _run(job: AudienceExportJob, triggers: Iterable[tuple[str, Trigger]], audience_id: str, scratch: Path) -> Preview:
    layout = SegmentLayout(job.identifiers, job.default_phone_region)
    stored = _Stored()
    sink = AudienceExportSink(job, scratch, Streamer(job, layout, stored), executor=_AtOnce(),  # type: ignore[arg-type]
                              layout=layout)
    table = RoutingTable([((job.audience,), Route(job.id, job.type, frozenset(job.triggers), 0.0, sink))])
    notes: list[TriggerNote] = []
    try:
        for offset, (where, trigger) in enumerate(triggers):
            if not table.route(trigger.audience, trigger.event, float("inf")):
                notes.append(TriggerNote(where, False, f"not routed: audience {trigger.audience!r}, this job "
                                                       f"takes {job.audience!r}"))
                continue
            outcomes = layout.outcomes(trigger.doc)
            dropped = tuple(Dropped(path, outcome) for path, outcome in outcomes if outcome in _LEFT_OUT)
            reason = ""
            if len(dropped) == len(outcomes):
                reason = ("no identifier: the user's hashes are looked up in the membership table when sent"
                          if trigger.event == "exit" else "no identifier: nothing to add")
            notes.append(TriggerNote(where, True, reason, dropped))
            sink.submit(trigger, _PARTITION, offset)
        sink.flush(0.0)
    finally:
        sink.close()
    requests = [{"method": "POST", "path": MAPPING_PATH,
                 "body": mapping_body(op.advertiser_id, op.action, (op.segment or {})["id_schema"],
                                      (op.segment or {})["rows"], audience_id)} for op in stored.ops]
    return Preview(requests, notes)
