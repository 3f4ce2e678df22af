"""What ``tikstream jobs preview`` reports: the requests, and per trigger whether it was routed and what was left
out and why. ``Report.to_json`` is the ``--json`` document::

    {"requests": [{"method", "path", "body"}, ...],
     "triggers": [{"offset_or_line", "routed", "dropped": [{"field", "reason"}, ...]}, ...]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Dropped", "Report", "Request", "TriggerReport"]


@dataclass(frozen=True, slots=True)
class Request:
    """One request the job would make. ``body`` is the JSON body (an upload's form, with its file's lines)."""

    method: str
    path: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Dropped:
    """A part of a trigger left out: ``field`` (``user.phone``, ``properties.value``, ``audience``, ...) and why."""

    field: str
    reason: str


@dataclass(slots=True)
class TriggerReport:
    """One trigger: where it was read (a line number of the file or ``partition:offset``), whether the job
    takes it, what was left out, and ``notes`` for people (derived values, where each value came from)."""

    offset_or_line: int | str
    routed: bool
    dropped: list[Dropped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Report:
    job_id: str
    kind: str
    requests: list[Request]
    triggers: list[TriggerReport]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (notes are for the text output only)."""
        return {
            "requests": [{"method": r.method, "path": r.path, "body": r.body} for r in self.requests],
            "triggers": [
                {"offset_or_line": t.offset_or_line, "routed": t.routed,
                 "dropped": [{"field": d.field, "reason": d.reason} for d in t.dropped]}
                for t in self.triggers
            ],
        }
