"""``audience_export`` sink (docs/architecture.md §4.1): triggers → batch on disk → files → pending operation in Kafka.

Per job, triggers go into an on-disk ``Batch`` (a user's last trigger wins). The batch is sealed when its
first trigger is ``flush_interval_seconds`` old, or at ``flush_max_users`` users, or when its rows pass
``flush_max_bytes``. A sealed batch is *shipped* on a worker thread: its APPEND and REMOVE files are written
(``files``), uploaded to TikTok, their content stored in ``{group_id}.audience-files``, and one
pending operation per action stored in ``{group_id}.audience-ops`` (``ship``). Applying operations to
the audience is the single writer's job (``service``, ``writer``; ``existing_users`` in
``backfill``), on whichever instance owns the job. The wiring is in ``build``.

An exit whose user has no usable identifier in the batch (an exit without a profile, after an enter shipped in
an earlier batch) is resolved when the batch ships: the user's last known profile in the audience membership
table (``tikstream.sinks.audience.members_topic``) gives the hashes to REMOVE. Identifier outcomes are counted in bulk
(``identifier_values_total{job, field=calculate_type, outcome}``).

Delivery guarantee: a trigger's offset stays owed until the operation holding its user was acknowledged by
Kafka (or the user had no usable identifier and the batch was shipped). A batch that failed to ship keeps its
offsets owed until their partitions are dropped (its triggers are consumed again by the next owner). Owed
offsets are counted in one ``tikstream.offsets.OwedOffsets``; each batch knows the first offset it holds per
partition, which it releases once it has shipped. A crash before that replays the
trigger; after it, the operation is applied by the job's writer, now or after its own crash. Not guaranteed:
order between a batch still shipping on an instance that lost the partition and the new owner's batches.

Back-pressure: at most ``MAX_SHIPPING`` sealed batches at once; a full batch with no room raises
``BackPressure``.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tikstream.errors import BackPressure
from tikstream.jobs.models import AudienceExportJob
from tikstream.mapping.compile import IdentifierCounts
from tikstream.offsets import OwedOffsets
from tikstream.records import Partition, Trigger
from tikstream.sinks.audience.batch import APPEND, REMOVE, Batch, RowLayout
from tikstream.sinks.audience.files import FileLayout
from tikstream.sinks.audience.ship import FileStore, Sealed, Shipper

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limits:
    """When the open batch is sealed: its first trigger ``seconds`` old, or ``users`` users, or ``bytes`` of
    rows (a streaming batch has no byte limit: its requests are cut by rows)."""

    seconds: float
    users: int
    bytes: int
    recount_after: int
    """Puts before the exact number of users is asked again, at least: a file batch may pass ``users`` a
    little; a streaming batch is sealed exactly at ``users``."""

    @classmethod
    def of(cls, job: AudienceExportJob) -> Limits:
        if job.delivery == "streaming":
            return cls(job.stream_linger_ms / 1000, job.stream_batch_max, 1 << 62, 1)
        return cls(job.flush_interval_seconds, job.flush_max_users, job.flush_max_bytes, min(1000, job.flush_max_users))

__all__ = ["MAX_SHIPPING", "AudienceExportSink", "FileStore", "Limits", "RowLayout", "Sealed", "Shipper"]

MAX_SHIPPING: Final = 2
DROP_WAIT_SECONDS: Final = 10.0
"""How long a revoke waits for a streaming batch being stored (its lock) before it gives up waiting."""
METRICS_INTERVAL: Final = 5.0


class AudienceExportSink:
    """The sink of one ``audience_export`` job version (see the module docstring for its guarantee)."""

    def __init__(self, job: AudienceExportJob, state_dir: Path, ship: Callable[[Sealed], int], *,
                 executor: Executor | None = None, clock: Callable[[], float] = time.monotonic,
                 metrics: Any = None, writer_status: Callable[[], Mapping[str, Any] | None] | None = None,
                 on_close: Callable[[], None] | None = None, layout: RowLayout | None = None,
                 counts: IdentifierCounts | None = None) -> None:
        self.job = job
        self._counts = counts
        self.layout: RowLayout = layout or FileLayout(job.identifiers, job.default_phone_region, counts)
        self.limits = Limits.of(job)
        self._next_metrics = clock() + METRICS_INTERVAL
        self._dir = state_dir / "audience" / job.id
        shutil.rmtree(self._dir, ignore_errors=True)  # stale scratch: its triggers were never released
        self._ship, self._clock, self._metrics = ship, clock, metrics
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix=f"audience-{job.id}")
        self._writer_status, self._on_close = writer_status, on_close
        self._batch: Batch | None = None
        self._owed = OwedOffsets()  # the first offset per partition of every batch not yet shipped
        self._firsts: dict[Partition, int] = {}  # the open batch's part of ``_owed``
        self._tp_index: dict[Partition, int] = {}
        self._shipping: list[tuple[Future[int], dict[Partition, int], Sealed]] = []  # with their part of ``_owed``
        self._next_size_check = self.limits.users
        self._next_bytes_check = self.limits.bytes
        self.shipped_users = 0
        self.last_error: str | None = None

    # -- the Sink contract ----------------------------------------------------------------------------------
    def submit(self, trigger: Trigger, partition: Partition, offset: int) -> None:
        batch = self._batch
        if batch is not None and self._full(batch) and not self._seal():
            raise BackPressure(f"audience job {self.job.id}: batches are still shipping")
        if self._batch is None:
            self._batch = Batch(self._dir / f"batch-{uuid.uuid4().hex}.sqlite", self._clock())
        tp = self._tp_index.setdefault(partition, len(self._tp_index))
        action = APPEND if trigger.event == "enter" else REMOVE
        self._batch.put(trigger.user_id, action, self.layout.rows(trigger.doc), tp)
        if partition not in self._firsts:
            self._firsts[partition] = offset
            self._owed.add(partition, offset)

    def poll(self) -> None:
        self._reap()
        if self._counts is not None and self._clock() >= self._next_metrics:
            self._flush_counts()
        batch = self._batch
        if batch is not None and (self._clock() - batch.opened_at >= self.limits.seconds or self._full(batch)):
            self._seal()

    def pending(self) -> Mapping[Partition, int]:
        return self._owed.lowest()

    def drop(self, partitions: Iterable[Partition]) -> None:
        dropped = list(partitions)
        indices = [self._tp_index[p] for p in dropped if p in self._tp_index]
        if self._batch is not None:
            self._batch.drop_partitions(indices)
        for _, _, sealed in self._shipping:  # a streaming batch not stored yet leaves them out (``streamer``)
            locked = sealed.lock.acquire(timeout=DROP_WAIT_SECONDS)
            sealed.dropped.update(indices)
            if locked:
                sealed.lock.release()
            else:  # Kafka has not taken the batch for that long: the new owner cannot store either
                log.warning("revoked while a batch was being stored; its rows may still be stored",
                            extra={"job": self.job.id, "batch": sealed.batch_id})
        self._owed.drop(dropped)
        for firsts in (self._firsts, *(f for _, f, _ in self._shipping)):
            for p in dropped:
                firsts.pop(p, None)  # so a batch that ships later releases nothing of a reassigned partition

    def flush(self, timeout: float) -> bool:
        deadline = self._clock() + timeout
        while self._batch is not None and not self._seal():
            if not self._wait_one(deadline):
                return False
        while self._shipping:
            if not self._wait_one(deadline):
                return False
        return not self.pending()

    def close(self) -> None:
        if self._counts is not None:
            self._flush_counts()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._batch is not None:
            self._batch.discard()
            self._batch = None
        if self._on_close is not None:
            self._on_close()

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"audience_id": None, "pending_files": None, "state": None,
                                  "last_error": self.last_error, "appended": None, "removed": None}
        writer = self._writer_status() if self._writer_status is not None else None
        if writer is not None:
            status.update(writer)
            status["last_error"] = writer.get("last_error") or self.last_error
        status["batch_users"] = 0 if self._batch is None else self._batch.users
        status["shipping_batches"] = len(self._shipping)
        status["shipped_users"] = self.shipped_users
        stats = getattr(self._ship, "stats", None)
        if callable(stats):
            status.update(stats())
        return status

    def _flush_counts(self) -> None:
        self._next_metrics = self._clock() + METRICS_INTERVAL
        taken = self._counts.take() if self._counts is not None else {}
        if self._metrics is None:
            return
        counter = self._metrics.identifier_values_total
        for (field, outcome), n in taken.items():
            counter.labels(self.job.id, field, outcome).inc(n)

    # -- batches --------------------------------------------------------------------------------------------
    def _full(self, batch: Batch) -> bool:
        users, size = self.limits.users, self.limits.bytes
        if batch.users >= self._next_size_check:
            exact = batch.exact_users()
            if exact >= users:
                return True
            self._next_size_check = exact + max(users - exact, self.limits.recount_after)
        if batch.size >= self._next_bytes_check:
            exact = batch.exact_size()
            if exact >= size:
                return True
            self._next_bytes_check = exact + max(size - exact, min(100_000, size))
        return False

    def _seal(self) -> bool:
        """Hand the open batch to shipping; False (nothing done) when ``MAX_SHIPPING`` batches are shipping."""
        self._reap()
        batch = self._batch
        if batch is None:
            return True
        if len(self._shipping) >= MAX_SHIPPING:
            return False
        batch_id = uuid.uuid4().hex[:12]
        sealed = Sealed(batch_id, batch.seal(), self._dir / f"files-{batch_id}")
        self._shipping.append((self._executor.submit(self._ship, sealed), self._firsts, sealed))
        self._batch, self._firsts = None, {}
        self._next_size_check, self._next_bytes_check = self.limits.users, self.limits.bytes
        return True

    def _reap(self) -> None:
        for item in [s for s in self._shipping if s[0].done()]:
            future = item[0]
            self._shipping.remove(item)
            exc = future.exception() if not future.cancelled() else None
            if future.cancelled() or exc is not None:
                # never released, owed until the partitions are dropped: committing past them would lose the
                # batch; the triggers are consumed again after a restart or rebalance
                self.last_error = f"batch not shipped: {exc}"
                log.error("audience batch not shipped", extra={"job": self.job.id, "error": str(exc)})
                continue
            for tp, offset in item[1].items():
                self._owed.release(tp, offset)
            self.shipped_users += future.result()
            self.last_error = None

    def _wait_one(self, deadline: float) -> bool:
        if not self._shipping:
            return True
        left = deadline - self._clock()
        if left <= 0:
            return False
        try:
            self._shipping[0][0].exception(timeout=left)
        except TimeoutError:
            return False
        except Exception:  # cancelled: handled by _reap
            pass
        self._reap()
        return True
