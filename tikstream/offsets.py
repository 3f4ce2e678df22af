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

from tikstream.records import Partition

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


class OwedOffsets:
    """The offsets one owner still owes, per partition: what it hands to ``commit_offsets`` as its ``owed`` map.

    Each offset is counted (one record may be owed twice, for example by two batches of one sink), and an
    offset is released once per ``add``. ``lowest`` is the commit bound of each partition. Releasing an offset
    that is not owed (a partition dropped since, or released already) does nothing. Not thread-safe: owned by
    one thread (the poll loop's, or a producer's delivery callbacks served on it).
    """

    __slots__ = ("_owed",)

    def __init__(self) -> None:
        self._owed: dict[Partition, dict[int, int]] = {}

    def add(self, partition: Partition, offset: int) -> None:
        counts = self._owed.get(partition)
        if counts is None:
            self._owed[partition] = {offset: 1}
        else:
            counts[offset] = counts.get(offset, 0) + 1

    def release(self, partition: Partition, offset: int) -> None:
        counts = self._owed.get(partition)
        if counts is None:
            return
        n = counts.get(offset)
        if n is None:
            return
        if n > 1:
            counts[offset] = n - 1
            return
        del counts[offset]
        if not counts:
            del self._owed[partition]

    def lowest(self) -> dict[Partition, int]:
        """For each partition owing anything, its lowest owed offset."""
        return {p: min(counts) for p, counts in self._owed.items()}

    def drop(self, partitions: Iterable[Partition]) -> None:
        """Forget what is owed on ``partitions`` (revoked or lost: the new owner redoes those records)."""
        for p in partitions:
            self._owed.pop(p, None)

    def __bool__(self) -> bool:
        return bool(self._owed)
