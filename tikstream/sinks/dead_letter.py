"""The sink of a job that cannot run on this instance (for example, its authorization is missing here).

Every record routed to it is dead-lettered with ``error_class=job_unavailable`` and the job's id, so nothing
is lost and other jobs keep flowing; ``tikstream dlq replay --job ID`` re-injects them once the job is fixed.
The dead-letter writer owes the offsets until the broker acknowledged them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

from tikstream.records import Partition, Trigger
from tikstream.sinks.base import DeadLetters


class DeadLetterSink:
    def __init__(self, job_id: str, reason: str, dlq: DeadLetters) -> None:
        self._job_id, self._reason, self._dlq = job_id, reason, dlq

    def submit(self, trigger: Trigger, partition: Partition, offset: int) -> None:
        self._dlq.send(partition, offset, trigger.user_id.encode(), trigger.raw or orjson.dumps(trigger.doc),
                       error_class="job_unavailable", error=self._reason, job=self._job_id)

    def poll(self) -> None:
        return None

    def pending(self) -> Mapping[Partition, int]:
        return {}

    def drop(self, partitions: Iterable[Partition]) -> None:
        return None

    def flush(self, timeout: float) -> bool:
        return True

    def close(self) -> None:
        return None
