"""The demo's closing table: per job what tikstream did, confirmed against what the emulator received.

Sources, per column: ROUTED from tikstream's ``records_routed_total`` (by job type: for the two audience jobs,
file and streaming, their sum) and, for comparison, the number the generator planned for the jobs of that
type; ACCEPTED from the emulator (events of the job's ``event_source_id``, duplicates not counted; for an
audience, the ids its APPEND/REMOVE operations or its add/delete requests added and removed); AUDIENCE and
PENDING from ``/jobs``, MEMBERS from the emulator; DLQ from the DLQ topic itself (letters by ``job`` header;
a crm job must dead-letter exactly the planned triggers without a lead id).
CHECK says ``ok`` when the two sides agree, else what differs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tikstream.demo.generator import Plan
from tikstream.demo.observe import Snapshot
from tikstream.jobs.models import AnyJob, AudienceExportJob, CrmEventsJob
from tikstream.records import compile_path

__all__ = ["Row", "build_rows", "event_source_id", "expected_dead_letters", "expected_routed", "render"]

NO_JOB = "(no job)"


@dataclass(frozen=True, slots=True)
class Row:
    job: str
    type: str
    routed: str
    accepted: str
    audience: str
    members: str
    pending: str
    dlq: int
    check: str

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def event_source_id(job: AnyJob) -> str | None:
    """The ``event_source_id`` an events job sends (pixel, app id or event set); None for audiences."""
    for name in ("pixel_code", "app_id", "event_set_id"):
        value = getattr(job, name, None)
        if value is not None:
            return str(value)
    return None


def expected_routed(job: AnyJob, plan: Plan) -> int:
    counts = plan.counts()
    if isinstance(job, AudienceExportJob):
        return counts[(job.audience, "enter")] + counts[(job.audience, "exit")]
    return sum(counts[(a, e)] for a in job.audiences for e in job.triggers)


def build_rows(jobs: Sequence[AnyJob], plan: Plan, snap: Snapshot, dlq: Counter[str | None],
               unique_events: Callable[[str], int]) -> list[Row]:
    rows = []
    for job in jobs:
        routed = int(snap.metric("records_routed_total", job_type=job.type))
        problems = _state_problems(snap.job(job.id))
        expected = sum(expected_routed(j, plan) for j in jobs if j.type == job.type)  # routed counts by type
        if routed != expected:
            problems.append(f"routed {routed}, generator planned {expected}")
        if isinstance(job, AudienceExportJob):
            row = _audience_row(job, snap, routed, dlq[job.id], problems)
        else:
            row = _events_row(job, snap, routed, dlq[job.id], unique_events, problems, plan)
        rows.append(row)
    undecodable = dlq[None]
    check = "ok" if undecodable == plan.poison else f"{undecodable} undecodable letters, {plan.poison} planned"
    rows.append(Row(NO_JOB, "poison records", "-", "-", "-", "-", "-", undecodable, check))
    total = sum(dlq.values())
    counted = int(snap.metric("dlq_records_total"))
    if total != counted:
        rows[-1] = _with_problem(rows[-1], f"DLQ topic holds {total}, dlq_records_total says {counted}")
    return rows


def _state_problems(entry: dict[str, Any]) -> list[str]:
    if not entry:
        return ["not in /jobs"]
    if entry.get("state") in ("unavailable", "rejected", "paused"):
        return [f"{entry['state']}: {str(entry.get('last_error') or '')[:70]}"]
    return []


def expected_dead_letters(job: AnyJob, plan: Plan) -> int:
    """The triggers ``job`` must dead-letter: for a crm job those without a lead id; none for the others."""
    if not isinstance(job, CrmEventsJob):
        return 0
    lead_id = compile_path(job.lead_id_field)
    return sum(1 for r in plan.records if r.doc is not None and r.audience in job.audiences
               and r.event in job.triggers and lead_id(r.doc) is None)


def _events_row(job: AnyJob, snap: Snapshot, routed: int, dlq: int, unique_events: Callable[[str], int],
                problems: list[str], plan: Plan) -> Row:
    source = event_source_id(job) or ""
    received = unique_events(source)
    sent = int(snap.metric("events_sent_total", job=job.id))
    if sent != received:
        problems.append(f"tikstream sent {sent}, emulator has {received}")
    letters = expected_dead_letters(job, plan)
    if dlq != letters and snap.job(job.id).get("state") not in ("unavailable", "rejected"):
        problems.append(f"{dlq} dead letters, {letters} planned (triggers without a lead id)")
    return Row(job.id, job.type, str(routed), f"{received} events", "-", "-", "-", dlq, _check(problems))


def _audience_row(job: AudienceExportJob, snap: Snapshot, routed: int, dlq: int, problems: list[str]) -> Row:
    entry = snap.job(job.id)
    audience_id = entry.get("audience_id")
    audience = snap.audience(audience_id) if audience_id else snap.audience_named(job.audience)
    pending = entry.get("pending_files")
    if audience is None:
        problems.append("no audience in the emulator")
        return Row(job.id, job.type, str(routed), "-", str(audience_id or "-"), "-", _text(pending), dlq,
                   _check(problems))
    if audience_id is not None and audience_id != audience.get("id"):
        problems.append(f"/jobs says audience {audience_id}")
    if pending not in (0, None):
        problems.append(f"{pending} files pending")
    history = audience.get("history", [])
    added = sum(int(op.get("added", 0)) for op in history)
    removed = sum(int(op.get("removed", 0)) for op in history)
    accepted = f"+{added} / -{removed} ids ({len(history)} ops)"
    return Row(job.id, job.type, str(routed), accepted, str(audience.get("id")),
               str(audience.get("members_count", "-")), _text(pending), dlq, _check(problems))


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _check(problems: list[str]) -> str:
    return "ok" if not problems else "; ".join(problems)


def _with_problem(row: Row, problem: str) -> Row:
    check = problem if row.check == "ok" else f"{row.check}; {problem}"
    return Row(row.job, row.type, row.routed, row.accepted, row.audience, row.members, row.pending, row.dlq,
               check)


HEADER = ("JOB", "TYPE", "ROUTED", "ACCEPTED BY TIKTOK (EMULATOR)", "AUDIENCE ID", "MEMBERS", "PENDING FILES",
          "DLQ", "CHECK")


def render(rows: Sequence[Row]) -> str:
    table = [HEADER] + [(r.job, r.type, r.routed, r.accepted, r.audience, r.members, r.pending, str(r.dlq),
                         r.check) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table)
