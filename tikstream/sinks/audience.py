"""``audience_export`` sink (DESIGN §4.1): triggers → batch on disk → files → pending operation in Kafka.

Per job, triggers go into an on-disk ``Batch`` (a user's last trigger wins). The batch is sealed when its
first trigger is ``flush_interval_seconds`` old, or at ``flush_max_users`` users, or when its rows pass
``flush_max_bytes``. A sealed batch is *shipped* on a worker thread: its APPEND and REMOVE files are written
(``audience_files``), uploaded to TikTok, their content stored in ``{group_id}.audience-files``, and one
pending operation per action stored in ``{group_id}.audience-ops``. Applying operations to the audience is the
single writer's job (``audience_service``), on whichever instance owns the job.

Delivery guarantee: a trigger's offset stays owed until the operation holding its user was acknowledged by
Kafka (or the user had no usable identifier and the batch was shipped). A crash before that replays the
trigger; after it, the operation is applied by the job's writer, now or after its own crash. Not guaranteed:
order between a batch still shipping on an instance that lost the partition and the new owner's batches.

Back-pressure: at most ``MAX_SHIPPING`` sealed batches at once; a full batch with no room raises
``BackPressure``.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from tikstream.errors import BackPressure
from tikstream.jobs.models import AudienceExportJob
from tikstream.records import Trigger
from tikstream.sinks.audience_batch import APPEND, REMOVE, Batch, count_users, read_rows
from tikstream.sinks.audience_files import FileLayout, write_files
from tikstream.sinks.audience_ops import Op, UploadedFile
from tikstream.sinks.base import Partition, SinkContext

log = logging.getLogger(__name__)

__all__ = ["MAX_SHIPPING", "AudienceExportSink", "FileStore", "Sealed", "Shipper", "build_audience_sink"]

MAX_SHIPPING: Final = 2
ACTIONS: Final = ((APPEND, "APPEND"), (REMOVE, "REMOVE"))


@dataclass(frozen=True, slots=True)
class Sealed:
    """A batch ready to ship: its SQLite file and a work directory for its files."""

    batch_id: str
    path: Path
    workdir: Path


class FileStore(Protocol):
    """Where shipping puts things. Each method blocks until done and raises on failure."""

    def upload(self, calculate_type: str, path: Path) -> str: ...
    def keep(self, file_id: str, path: Path) -> Any: ...  # durable copy of the content; returns its FileRef
    def put_op(self, op: Op) -> None: ...


class Shipper:
    """Writes a sealed batch's files, uploads them and stores the operations; retries until it succeeds or
    ``stop`` is set (then raises ``InterruptedError``). Runs on a worker thread."""

    def __init__(self, job: AudienceExportJob, layout: FileLayout, store: FileStore, *,
                 wall: Callable[[], float] = time.time, stop: threading.Event | None = None,
                 retry_first: float = 1.0, retry_cap: float = 60.0) -> None:
        self._job, self._layout, self._store, self._wall = job, layout, store, wall
        self.stop = stop or threading.Event()
        self._first, self._cap = retry_first, retry_cap
        self.last_error: str | None = None

    def __call__(self, sealed: Sealed) -> int:
        """Ship; returns the number of users sent."""
        users = 0
        try:
            for action, name in ACTIONS:
                paths = write_files(read_rows(sealed.path, action), self._layout, sealed.workdir,
                                    f"{self._job.id}-{sealed.batch_id}-{name.lower()}")
                if not paths:
                    continue
                files = tuple(self._retrying(lambda p=p: self._one_file(p)) for p in paths)  # type: ignore[misc]
                n = count_users(sealed.path, action)
                op = Op(self._job.id, sealed.batch_id, name, self._layout.calculate_type, self._job.advertiser_id,
                        files, n, self._wall())
                self._retrying(lambda op=op: self._store.put_op(op))  # type: ignore[misc]
                users += n
        finally:
            shutil.rmtree(sealed.workdir, ignore_errors=True)
            sealed.path.unlink(missing_ok=True)
        self.last_error = None
        return users

    def _one_file(self, path: Path) -> UploadedFile:
        file_path = self._store.upload(self._layout.calculate_type, path)
        ref = self._store.keep(uuid.uuid4().hex, path)
        return UploadedFile(file_path, path.name, ref)

    def _retrying(self, call: Callable[[], Any]) -> Any:
        delay = self._first
        while True:
            if self.stop.is_set():
                raise InterruptedError("shipping stopped")
            try:
                return call()
            except Exception as exc:  # every failure keeps the batch's offsets owed; try again
                self.last_error = str(exc)
                log.warning("audience batch shipping failed; retrying",
                            extra={"job": self._job.id, "error": str(exc), "retry_in": delay})
                if self.stop.wait(delay):
                    raise InterruptedError("shipping stopped") from exc
                delay = min(self._cap, delay * 2)


class AudienceExportSink:
    """The sink of one ``audience_export`` job version (see the module docstring for its guarantee)."""

    def __init__(self, job: AudienceExportJob, state_dir: Path, ship: Callable[[Sealed], int], *,
                 executor: Executor | None = None, clock: Callable[[], float] = time.monotonic,
                 metrics: Any = None, writer_status: Callable[[], Mapping[str, Any] | None] | None = None,
                 on_close: Callable[[], None] | None = None, layout: FileLayout | None = None) -> None:
        self.job = job
        self.layout = layout or FileLayout(job.identifiers, job.default_phone_region)
        self._dir = state_dir / "audience" / job.id
        shutil.rmtree(self._dir, ignore_errors=True)  # stale scratch: its triggers were never released
        self._ship, self._clock, self._metrics = ship, clock, metrics
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix=f"audience-{job.id}")
        self._writer_status, self._on_close = writer_status, on_close
        self._batch: Batch | None = None
        self._owed: dict[Partition, int] = {}
        self._tp_index: dict[Partition, int] = {}
        self._shipping: list[tuple[Future[int], dict[Partition, int]]] = []
        self._stuck: dict[Partition, int] = {}
        self._next_size_check = job.flush_max_users
        self._next_bytes_check = job.flush_max_bytes
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
        if partition not in self._owed:
            self._owed[partition] = offset

    def poll(self) -> None:
        self._reap()
        batch = self._batch
        if batch is not None and (self._clock() - batch.opened_at >= self.job.flush_interval_seconds
                                  or self._full(batch)):
            self._seal()

    def pending(self) -> Mapping[Partition, int]:
        out = dict(self._owed)
        for _, owed in [*self._shipping, (None, self._stuck)]:
            for tp, offset in owed.items():
                if offset < out.get(tp, offset + 1):
                    out[tp] = offset
        return out

    def drop(self, partitions: Iterable[Partition]) -> None:
        dropped = list(partitions)
        if self._batch is not None:
            self._batch.drop_partitions(self._tp_index[p] for p in dropped if p in self._tp_index)
        for p in dropped:
            self._owed.pop(p, None)
            self._stuck.pop(p, None)
            for _, owed in self._shipping:
                owed.pop(p, None)

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
        return status

    # -- batches --------------------------------------------------------------------------------------------
    def _full(self, batch: Batch) -> bool:
        job = self.job
        if batch.users >= self._next_size_check:
            exact = batch.exact_users()
            if exact >= job.flush_max_users:
                return True
            self._next_size_check = exact + max(job.flush_max_users - exact, min(1000, job.flush_max_users))
        if batch.size >= self._next_bytes_check:
            exact = batch.exact_size()
            if exact >= job.flush_max_bytes:
                return True
            self._next_bytes_check = exact + max(job.flush_max_bytes - exact, min(100_000, job.flush_max_bytes))
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
        self._shipping.append((self._executor.submit(self._ship, sealed), self._owed))
        self._batch, self._owed = None, {}
        self._next_size_check, self._next_bytes_check = self.job.flush_max_users, self.job.flush_max_bytes
        return True

    def _reap(self) -> None:
        for item in [s for s in self._shipping if s[0].done()]:
            future = item[0]
            self._shipping.remove(item)
            exc = future.exception() if not future.cancelled() else None
            if future.cancelled() or exc is not None:
                # never released: the triggers are consumed again after a restart or rebalance
                self.last_error = f"batch not shipped: {exc}"
                log.error("audience batch not shipped", extra={"job": self.job.id, "error": str(exc)})
                self._shipping_failed(item[1])
                continue
            self.shipped_users += future.result()
            self.last_error = None

    def _shipping_failed(self, owed: dict[Partition, int]) -> None:
        # owed until the partitions are dropped: committing past them would lose the batch
        for tp, offset in owed.items():
            self._stuck[tp] = min(offset, self._stuck.get(tp, offset))

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


# -- composition -----------------------------------------------------------------------------------------------


class _KafkaFileStore:
    def __init__(self, job: AudienceExportJob, ctx: SinkContext, kafka: Any) -> None:
        self._job, self._ctx, self._kafka = job, ctx, kafka

    def upload(self, calculate_type: str, path: Path) -> str:
        return str(self._ctx.tiktok.upload_audience_file(_token(self._ctx, self._job), self._job.advertiser_id,
                                                         calculate_type, path, path.name))

    def keep(self, file_id: str, path: Path) -> Any:
        return self._kafka.store_file(file_id, path.read_bytes())

    def put_op(self, op: Op) -> None:
        self._kafka.put_op(op.job_id, op.to_bytes())


def _token(ctx: SinkContext, job: AudienceExportJob) -> str:
    from tikstream.errors import ConfigError

    refresh = getattr(ctx.auth, "refresh", None)
    if callable(refresh):
        refresh()
    auth = ctx.auth.get(job.auth) if ctx.auth is not None else None
    if auth is None:
        raise ConfigError(f"authorization {job.auth!r} is missing")
    return str(auth.access_token.get_secret_value())


def build_audience_sink(version: Any, ctx: SinkContext) -> AudienceExportSink:
    """The ``default_sink_builders`` entry: wires the sink to Kafka, TikTok and the process's writer service."""
    from tikstream.sinks import audience_service
    from tikstream.sinks.audience_writer import JobWriter

    job: AudienceExportJob = version.job
    metrics = ctx.metrics

    def on_pending(job_id: str, n: int) -> None:
        metrics.audience_pending_files.labels(job_id).set(n)

    service = audience_service.acquire(ctx.kafka_config, ctx.group_id, on_pending)

    def api() -> audience_service.TikTokAudienceApi:
        return audience_service.TikTokAudienceApi(ctx.tiktok, _token(ctx, job), job.advertiser_id,
                                                  job.retention_in_days)

    def on_state(state: str) -> None:
        for s in ("creating", "processing", "ready", "failing"):
            metrics.audience_state.labels(job.id, s).set(1 if s == state else 0)
        if state in ("processing", "ready") and writer.last_success is not None:
            metrics.audience_last_success_timestamp_seconds.labels(job.id).set(writer.last_success)

    def on_counts(ops: list[Op]) -> None:
        for op in ops:
            metrics.audience_users_total.labels(job.id, op.action.lower()).inc(op.users)

    def factory(on_applied: Callable[[list[Op]], None]) -> JobWriter:
        def applied(ops: list[Op]) -> None:
            on_counts(ops)
            on_applied(ops)

        return JobWriter(job.id, job.audience_name_prefix, job.audience, api,
                         audience_service.KafkaWriterStore(service.kafka), applied, on_state=on_state)

    writer = service.register(job.id, factory)
    layout = FileLayout(job.identifiers, job.default_phone_region)
    shipper = Shipper(job, layout, _KafkaFileStore(job, ctx, service.kafka))

    def writer_status() -> Mapping[str, Any] | None:
        return writer.status() if service.owns(job.id) else None

    def on_close() -> None:
        shipper.stop.set()
        service.unregister(job.id)
        audience_service.release(service)

    return AudienceExportSink(job, ctx.state_dir, shipper, metrics=metrics, writer_status=writer_status,
                              on_close=on_close, layout=layout)
