"""The commit rule: the one place that decides which offset may be committed for a partition.

Kafka's committed offset is the *next* offset to read. For one partition, tikstream may commit up to the
lowest offset that anyone still owes: a sink that has not finished with a record (sent and accepted by
TikTok, stored durably in Kafka for a later audience operation, or dead-lettered), or the poll loop itself
for records it parked under back-pressure. With nothing owed, the commit is the offset after the last record
consumed. A commit never moves backwards and never passes an owed record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

P = TypeVar("P")


def commit_offset(next_to_consume: int, owed: Iterable[int | None], committed: int | None) -> int | None:
    """The offset to commit for one partition, or None when the commit would not advance.

    ``next_to_consume`` is the last consumed offset + 1; ``owed`` holds, per owner, the lowest offset it still
    owes (None when it owes nothing on this partition); ``committed`` is the last committed offset (None: none).
    """
    target = next_to_consume
    for offset in owed:
        if offset is not None and offset < target:
            target = offset
    if committed is not None and target <= committed:
        return None
    return target


def commit_offsets(
    consumed: Mapping[P, int], owed: Iterable[Mapping[P, int]], committed: Mapping[P, int]
) -> dict[P, int]:
    """``commit_offset`` for every consumed partition; only partitions whose commit advances are returned."""
    owed_maps = list(owed)
    result: dict[P, int] = {}
    for partition, next_offset in consumed.items():
        offset = commit_offset(next_offset, (m.get(partition) for m in owed_maps), committed.get(partition))
        if offset is not None:
            result[partition] = offset
    return result
