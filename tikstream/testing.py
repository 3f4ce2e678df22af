"""Testing helpers shipped with tikstream: sinks that record what they were given.

``RecordingSink`` keeps every record it takes and owes its offset until the record is *completed*, either
by the test (``complete``) or automatically on ``poll`` (``auto_complete=True``). ``capacity`` bounds how
many records it may owe at once; past that, ``submit`` raises ``BackPressure`` like a real sink would.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from tikstream.errors import BackPressure
from tikstream.offsets import OwedOffsets
from tikstream.records import Partition, Trigger


class RecordingSink:
    def __init__(self, *, capacity: int | None = None, auto_complete: bool = True,
                 on_done: Callable[[Trigger, Partition, int], None] | None = None) -> None:
        self.capacity = capacity
        self.auto_complete = auto_complete
        self.on_done = on_done
        self.received: list[tuple[Partition, int, Trigger]] = []
        self.completed: list[tuple[Partition, int]] = []
        self._owed = OwedOffsets()
        self._queues: dict[Partition, deque[tuple[int, Trigger]]] = {}  # owed records, oldest first
        self._count = 0
        self.closed = False
        self.flushes = 0
        self.lock = threading.Lock()

    def submit(self, trigger: Trigger, partition: Partition, offset: int) -> None:
        if self.capacity is not None and self._count >= self.capacity:
            raise BackPressure(f"recording sink holds {self._count}")
        self.received.append((partition, offset, trigger))
        self._queues.setdefault(partition, deque()).append((offset, trigger))
        self._owed.add(partition, offset)
        self._count += 1

    def complete(self, n: int | None = None) -> int:
        """Finish the ``n`` oldest owed records of every partition (all when None); returns how many."""
        done = 0
        for partition, queue in list(self._queues.items()):
            k = len(queue) if n is None else min(n, len(queue))
            for _ in range(k):
                offset, trigger = queue.popleft()
                self._owed.release(partition, offset)
                self.completed.append((partition, offset))
                if self.on_done is not None:
                    self.on_done(trigger, partition, offset)
            done += k
            if not queue:
                del self._queues[partition]
        self._count -= done
        return done

    def poll(self) -> None:
        if self.auto_complete:
            self.complete()

    def pending(self) -> Mapping[Partition, int]:
        return self._owed.lowest()

    def drop(self, partitions: Iterable[Partition]) -> None:
        dropped = list(partitions)
        self._owed.drop(dropped)
        for p in dropped:
            queue = self._queues.pop(p, None)
            if queue:
                self._count -= len(queue)

    def flush(self, timeout: float) -> bool:
        """Flushing finishes everything owed, as a real sink's flush sends what it holds."""
        self.flushes += 1
        self.complete()
        return not self._owed

    def close(self) -> None:
        self.closed = True


class NullSink(RecordingSink):
    """Takes everything, keeps nothing, owes nothing: the floor for benchmarks of the poll loop."""

    def __init__(self) -> None:
        super().__init__()

    def submit(self, trigger: Trigger, partition: Partition, offset: int) -> None:
        return None
