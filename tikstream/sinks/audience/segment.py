"""Streaming audiences (``delivery: streaming``): the rows of ``/segment/mapping/`` and its request bodies
(docs/tiktok-api.md §2.9, §6.4). Pure: no Kafka, no HTTP.

``id_schema`` comes from the job's identifiers: one slot per ``calculate_type``, sorted, with the segment API's
names (``AAID_*`` where the customer-file API says ``GAID_*``). A user's identifiers become rows aligned slot by
slot with it, an empty cell where the user has no value. Two paths of one type (say a work and a home email)
give a second row for the second value, so every identifier is added or deleted. Values are normalised and
hashed as for customer files, except phones: ``+E.164`` with the plus (§2.9).

Rows travel as text, like customer-file rows (``rows``): one line per row, cells separated by commas (a hash
never holds a comma). ``mapping_body`` turns lines into the request: ``{"id": hash, "audience_ids": [id]}``
per filled cell and ``{}`` per empty one, so a row never shifts a hash into another slot (the bug fixed in
RS-PR5520, §2.9).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tikstream.mapping.counts import IdentifierCounts
from tikstream.mapping.normalise import segment_normaliser
from tikstream.records import compile_path
from tikstream.sinks.audience.batch import APPEND, REMOVE, read_rows
from tikstream.sinks.audience.files import Column

__all__ = ["ACTIONS", "ID_SCHEMA_OF", "MAX_NAME", "SEGMENT", "Chunk", "SegmentLayout", "chunks", "mapping_body",
           "segment_audience_name"]

SEGMENT: Final = "SEGMENT"
"""The ``calculate_type`` a streaming job's audience record and operations carry (no file type applies)."""
ID_SCHEMA_OF: Final[Mapping[str, str]] = {
    "EMAIL_SHA256": "EMAIL_SHA256", "PHONE_SHA256": "PHONE_SHA256", "IDFA_SHA256": "IDFA_SHA256",
    "IDFA_MD5": "IDFA_MD5", "GAID_SHA256": "AAID_SHA256", "GAID_MD5": "AAID_MD5",
}
ACTIONS: Final = ((APPEND, "add"), (REMOVE, "delete"))
MAX_NAME: Final = 70


def segment_audience_name(name: str) -> str:
    """The name as TikTok keeps it: over 70 characters, cut to 67 plus ``...`` (§2.9). Stored before
    ``create`` in this form, so that a lookup by name after a crash finds the audience."""
    return name if len(name) <= MAX_NAME else name[:MAX_NAME - 3] + "..."


class SegmentLayout:
    """How a job's identifiers become segment rows. Built once per job version; the same ``rows`` interface as
    ``files.FileLayout``, so the sink, the on-disk batch and the backfill take either.

    With ``counts``, every value looked at is counted by its ``calculate_type``. Raises ``ValueError`` for an
    unknown ``calculate_type`` or phone region.
    """

    calculate_type: Final = SEGMENT

    def __init__(self, identifiers: Mapping[str, str], default_region: str | None = None,
                 counts: IdentifierCounts | None = None) -> None:
        types = sorted(set(identifiers.values()))
        unknown = [t for t in types if t not in ID_SCHEMA_OF]
        if unknown:
            raise ValueError(f"unsupported calculate_type {unknown[0]!r}")
        self.id_schema: tuple[str, ...] = tuple(ID_SCHEMA_OF[t] for t in types)
        self._slots = tuple(
            tuple(Column(path, compile_path(path), segment_normaliser(ctype, default_region),
                          None if counts is None else counts.recorder(ctype))
                  for path in sorted(p for p, t in identifiers.items() if t == ctype))
            for ctype in types
        )

    def rows(self, doc: dict[str, object]) -> str:
        """The lines one user contributes ("" when no identifier is usable), without a trailing newline."""
        values: list[list[str]] = []
        for columns in self._slots:
            slot: list[str] = []
            for column in columns:
                value, outcome = column.normalise(column.get(doc))
                if column.record is not None:
                    column.record(outcome)
                if value and value not in slot:
                    slot.append(value)
            values.append(slot)
        depth = max(len(slot) for slot in values)
        return "\n".join(",".join(slot[i] if i < len(slot) else "" for slot in values) for i in range(depth))


    def outcomes(self, doc: dict[str, object]) -> list[tuple[str, str]]:
        """(record path, outcome) of each identifier of ``doc`` (``hashed``, ``prehashed``, ``invalid``,
        ``missing``), without counting: what a preview reports."""
        return [(c.path, c.normalise(c.get(doc))[1].value) for columns in self._slots for c in columns]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One request's worth of a sealed batch: ``action`` (``add``/``delete``), its ``lines``, ``users``."""

    action: str
    lines: tuple[str, ...]
    users: int


def chunks(path: Path, max_rows: int) -> Iterator[Chunk]:
    """A sealed batch as requests: the adds, then the deletes, at most ``max_rows`` rows each (a user's rows
    stay in one request). Memory holds one request."""
    for action, name in ACTIONS:
        lines: list[str] = []
        users = 0
        for rows in read_rows(path, action):
            mine = rows.split("\n")
            if lines and len(lines) + len(mine) > max_rows:
                yield Chunk(name, tuple(lines), users)
                lines, users = [], 0
            lines.extend(mine)
            users += 1
        if lines:
            yield Chunk(name, tuple(lines), users)


def mapping_body(advertiser_id: str, action: str, id_schema: Sequence[str], lines: Iterable[str],
                 audience_id: str) -> dict[str, Any]:
    """The ``/segment/mapping/`` body (§6.4) for rows given as lines of comma-separated cells."""
    audience_ids = [audience_id]
    width = len(id_schema)
    batch_data = []
    for line in lines:
        cells = line.split(",")
        if len(cells) != width:
            raise ValueError(f"a row has {len(cells)} cells for an id_schema of {width}")
        batch_data.append([{"id": cell, "audience_ids": audience_ids} if cell else {} for cell in cells])
    return {"advertiser_ids": [advertiser_id], "action": action, "id_schema": list(id_schema),
            "batch_data": batch_data}
