"""The sink contract.

A sink receives the triggers routed to one job version, does that job's work, and tells the poll loop which
offsets it still owes. The poll loop commits, for each partition, no further than the lowest offset any sink
owes (``tikstream.offsets``). A sink therefore owns the delivery guarantee of its job: it must keep an offset
owed until the record's effect is durable (accepted by TikTok, written to Kafka, or dead-lettered).

Lifecycle, all calls from the poll-loop thread::

    submit* / poll* ... -> drop(partitions)* ... -> flush(deadline) -> close()

Not guaranteed: order across partitions; exactly-once (a record may be processed again after a crash or a
rebalance, so a sink's effects must be idempotent: stable event ids, set operations on audiences).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from tikstream.records import Partition, Trigger

if TYPE_CHECKING:
    from tikstream.auth import AuthStore
    from tikstream.metrics import Metrics
    from tikstream.supervise import Supervisor
    from tikstream.tiktok.client import TikTokClient

__all__ = ["DeadLetters", "Recorder", "Sink", "SinkContext"]

class Sink(Protocol):
    """What the poll loop needs from a sink. Implementations must not block in ``submit`` or ``poll``."""

    def submit(self, trigger: Trigger, partition: Partition, offset: int) -> None:
        """Take one routed trigger; the sink owes ``offset`` on ``partition`` until its work is durable.

        Raises ``tikstream.errors.BackPressure`` when the sink holds as much as it may: nothing was taken,
        and the caller pauses the partition and offers the same record again later. Raises
        ``tikstream.errors.InvalidRecord`` when this job can never use the record (a crm trigger without a lead
        id): nothing was taken, and the poll loop dead-letters the record for this job. Never blocks.
        """

    def poll(self) -> None:
        """Do work that is due (linger expiry, finished requests, retries). Never blocks; never raises for a
        record-level failure (those go to the DLQ or keep the offset owed)."""

    def pending(self) -> Mapping[Partition, int]:
        """For each partition with owed work, the lowest offset still owed. Partitions owing nothing are absent."""

    def drop(self, partitions: Iterable[Partition]) -> None:
        """Forget owed work of partitions this instance no longer owns (revoked or lost). Their records will be
        consumed again by the new owner; work already in flight may still complete, harmlessly."""

    def flush(self, timeout: float) -> bool:
        """Finish owed work, blocking up to ``timeout`` seconds. True when nothing is owed afterwards."""

    def close(self) -> None:
        """Release resources. Owed work that was not flushed stays uncommitted and will be redone."""


class DeadLetters(Protocol):
    """Where records that cannot be used go (``tikstream.kafka.dlq.DeadLetterWriter``), with the reason.

    ``send`` never blocks and never raises for a full producer queue: the letter is queued and the source
    offset is owed (``pending``) until the broker acknowledged it. Error texts must not carry secrets.
    """

    def send(self, partition: Partition, offset: int, key: bytes | None, value: bytes | None, *,
             error_class: str, error: str, job: str | None = None) -> None: ...
    def poll(self) -> None: ...
    def pending(self) -> Mapping[Partition, int]: ...
    def drop(self, partitions: Iterable[Partition]) -> None: ...
    def flush(self, timeout: float) -> bool: ...


class Recorder(Protocol):
    """Sees every decoded trigger before routing (the audience membership table,
    ``tikstream.sinks.audience.membership``).

    ``record`` raises ``BackPressure`` (nothing recorded; the record is parked) and never blocks; the offset
    stays owed (``pending``) until the write is durable. ``drop`` and ``flush`` as in the sink contract.
    """

    def record(self, trigger: Trigger, partition: Partition, offset: int, timestamp_ms: int | None) -> None: ...
    def poll(self) -> None: ...
    def pending(self) -> Mapping[Partition, int]: ...
    def drop(self, partitions: Iterable[Partition]) -> None: ...
    def flush(self, timeout: float) -> bool: ...


@dataclass(frozen=True)
class SinkContext:
    """What every sink builder may use; built once by the composition root (``tikstream.app``). What only one
    kind of sink needs (the audience writer service, the events sink's knobs) is bound to its builder there."""

    metrics: Metrics
    dlq: DeadLetters
    kafka_config: Mapping[str, str]
    group_id: str
    state_dir: Path
    tiktok_base_url: str
    auth: AuthStore | None  # re-read when the file changes; None: no authorization file
    tiktok: TikTokClient | None  # shared by every sink (one connection pool); None: a sink makes its own
    supervisor: Supervisor  # every background thread a sink starts runs under it (``tikstream.supervise``)
