"""Composition of the ``audience_export`` sink: the sink, its shipper, the process's writer service, the job's
writer and its backfill, wired to Kafka, TikTok and the membership table. No logic of its own.

``AudienceExport`` is built once per process by the composition root (``tikstream.app``): it holds the
membership recorder (which the poll loop also uses) and the writer service, started with the first audience
sink and stopped after the last.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, cast

import orjson

from tikstream.auth import TokenResolver
from tikstream.jobs.models import AudienceExportJob
from tikstream.jobs.registry import JobVersion
from tikstream.mapping.compile import IdentifierCounts
from tikstream.metrics import Metrics
from tikstream.sinks.audience.backfill import Backfill, BackfillBuild, Progress, Ship, run_in_thread
from tikstream.sinks.audience.batch import RowLayout, resolve_removes
from tikstream.sinks.audience.files import FileLayout
from tikstream.sinks.audience.members_topic import MembershipReader
from tikstream.sinks.audience.membership import MembershipRecorder, build_recorder
from tikstream.sinks.audience.ops import Op
from tikstream.sinks.audience.pusher import SegmentWriter
from tikstream.sinks.audience.segment import SegmentLayout
from tikstream.sinks.audience.service import TikTokAudienceApi, Writer, WriterService
from tikstream.sinks.audience.ship import FileStore, Sealed, Shipper
from tikstream.sinks.audience.sink import AudienceExportSink
from tikstream.sinks.audience.state import AudienceKafka, WriterCommits, ops_partition
from tikstream.sinks.audience.streamer import Streamer
from tikstream.sinks.audience.writer import JobWriter
from tikstream.sinks.base import SinkContext
from tikstream.supervise import Supervisor

__all__ = ["ACTION_LABELS", "AudienceExport"]

ACTION_LABELS: Final = {"add": "append", "delete": "remove"}
"""``audience_users_total{action}`` of a streaming job: the same two values as a file job's."""


class AudienceExport:
    """The audience export of one process: ``build`` is the ``audience_export`` sink builder."""

    def __init__(self, kafka_config: Mapping[str, str], group_id: str, trigger_topics: Sequence[str],
                 metrics: Metrics, supervisor: Supervisor,
                 is_deleted: Callable[[str], bool] = lambda job_id: False) -> None:
        """``is_deleted``: whether the config registry has seen a job deleted (``JobRegistry.is_deleted``); the
        writer service drops such a job's pending operations."""
        self._kafka_config, self._group_id, self._metrics = dict(kafka_config), group_id, metrics
        self._supervisor, self._is_deleted = supervisor, is_deleted
        self.membership: MembershipRecorder = build_recorder(kafka_config, group_id, trigger_topics)
        self._lock = threading.Lock()
        self._service: WriterService | None = None
        self._users = 0

    def build(self, version: JobVersion, ctx: SinkContext) -> AudienceExportSink:
        """The sink of one ``audience_export`` job version (``SinkBuilder``)."""
        return _build(version, ctx, self._acquire(), self._release, self.membership.reader)

    def _acquire(self) -> WriterService:
        with self._lock:
            if self._service is None:
                metrics = self._metrics

                def on_pending(job_id: str, n: int) -> None:
                    metrics.audience_pending_files.labels(job_id).set(n)

                self._service = WriterService(AudienceKafka(self._kafka_config, self._group_id),
                                              on_pending=on_pending, is_deleted=self._is_deleted)
                self._service.start(self._supervisor)
            self._users += 1
            return self._service

    def _release(self) -> None:
        with self._lock:
            self._users -= 1
            service = self._service if self._users <= 0 else None
            if service is not None:
                self._service = None
        if service is not None:
            service.stop()
            service.kafka.close()

    @property
    def service(self) -> WriterService | None:
        """The running writer service (None while no audience sink runs)."""
        return self._service


class _KafkaFileStore:
    def __init__(self, job: AudienceExportJob, ctx: SinkContext, kafka: AudienceKafka,
                 token: Callable[[], str]) -> None:
        self._job, self._ctx, self._kafka, self._token = job, ctx, kafka, token

    def upload(self, calculate_type: str, path: Path) -> str:
        return str(_client(self._ctx).upload_audience_file(self._token(), self._job.advertiser_id, calculate_type,
                                                           path, path.name))

    def keep(self, file_id: str, path: Path) -> Any:
        return self._kafka.store_file(file_id, path.read_bytes())

    def put_op(self, op: Op) -> None:
        self._kafka.put_op(op.job_id, op.to_bytes())


def _client(ctx: SinkContext) -> Any:
    if ctx.tiktok is None:
        raise ValueError("an audience export sink needs the shared TikTok client (SinkContext.tiktok)")
    return ctx.tiktok


def _token_source(job: AudienceExportJob, ctx: SinkContext) -> Callable[[], str]:
    """The job's token at each call: the file re-read when it changed, kind and scope checked
    (``AuthConfigError`` when unusable)."""
    resolver = TokenResolver(job, ctx.auth)

    def token() -> str:
        resolver.refresh()
        return resolver.require()

    return token


def _build(version: JobVersion, ctx: SinkContext, service: WriterService, release: Callable[[], None],
           reader: MembershipReader | None) -> AudienceExportSink:
    """The sink of one ``audience_export`` job version, wired to Kafka, TikTok and the writer service.

    Without a membership ``reader``, exits without a profile are not looked up and ``existing_users`` sends
    nobody.
    """
    job = version.job
    if not isinstance(job, AudienceExportJob):
        raise TypeError(f"job {job.id!r} of type {job.type!r} is not an audience export")
    metrics = ctx.metrics
    token = _token_source(job, ctx)
    streaming = job.delivery == "streaming"
    store = _KafkaFileStore(job, ctx, service.kafka, token)
    stream_store = _KafkaStreamStore(job.id, service.kafka)
    row_layout = (SegmentLayout if streaming else FileLayout)(job.identifiers, job.default_phone_region)
    # not the sink's (its counts are not shared): for the backfill and for exits looked up on shipping

    def api() -> TikTokAudienceApi:
        return TikTokAudienceApi(_client(ctx), token(), job.advertiser_id, job.retention_in_days)

    def on_state(state: str) -> None:
        for s in ("creating", "processing", "ready", "failing"):
            metrics.audience_state.labels(job.id, s).set(1 if s == state else 0)
        if state in ("processing", "ready") and writer.last_success is not None:
            metrics.audience_last_success_timestamp_seconds.labels(job.id).set(writer.last_success)

    def on_counts(ops: list[Op]) -> None:
        for op in ops:
            metrics.audience_users_total.labels(job.id, ACTION_LABELS.get(op.action, op.action.lower())).inc(op.users)

    def factory(on_applied: Callable[[list[Op]], None]) -> Writer:
        def applied(ops: list[Op]) -> None:
            on_counts(ops)
            on_applied(ops)

        writer_store = service.store()
        if streaming:
            ship: Ship = Streamer(job, cast(SegmentLayout, row_layout), stream_store).collect
        else:
            ship = _file_ship(job, cast(FileLayout, row_layout), store)
        backfill = (_backfill(job, version.created_at, ctx, reader, row_layout, ship, writer_store.put_backfill)
                    if job.existing_users else None)
        if streaming:
            return SegmentWriter(job.id, job.audience_name_prefix, job.audience, api, writer_store, applied,
                                 on_state=on_state, backfill=backfill)
        return JobWriter(job.id, job.audience_name_prefix, job.audience, api, writer_store, applied,
                         on_state=on_state, backfill=backfill, read_files=writer_store.read_files)

    writer = service.register(job.id, factory)
    counts = IdentifierCounts(sorted(set(job.identifiers.values())))
    stop = threading.Event()
    resolve = None if reader is None else _resolver(job, reader, stop, row_layout)
    layout: RowLayout
    shipper: Callable[[Sealed], int]
    if streaming:
        layout = SegmentLayout(job.identifiers, job.default_phone_region, counts)
        shipper = Streamer(job, layout, stream_store, stop=stop, resolve=resolve)
    else:
        layout = FileLayout(job.identifiers, job.default_phone_region, counts)
        shipper = Shipper(job, layout, store, stop=stop, resolve=resolve)

    def writer_status() -> Mapping[str, Any] | None:
        return writer.status() if service.owns(job.id) else None

    def on_close() -> None:
        stop.set()
        service.unregister(job.id)
        release()

    return AudienceExportSink(job, ctx.state_dir, shipper, metrics=metrics, writer_status=writer_status,
                              on_close=on_close, layout=layout, counts=counts)


def _resolver(job: AudienceExportJob, reader: MembershipReader, stop: threading.Event,
              layout: RowLayout) -> Callable[[Path], int]:
    """Looks exits without identifiers up in the membership table (on the shipping thread)."""

    def rows_of(value: bytes) -> str:
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError:
            return ""
        return layout.rows(doc) if isinstance(doc, dict) else ""

    def resolve(path: Path) -> int:
        members = ((m.user_id, m.value) for m in reader.scan(job.audience, stop))
        return resolve_removes(path, members, rows_of)

    return resolve


class _Collecting:
    """A ``FileStore`` that hands operations back instead of storing them (for the backfill)."""

    def __init__(self, inner: FileStore, collect: Callable[[Op], None]) -> None:
        self._inner, self.put_op = inner, collect

    def upload(self, calculate_type: str, path: Path) -> str:
        return self._inner.upload(calculate_type, path)

    def keep(self, file_id: str, path: Path) -> Any:
        return self._inner.keep(file_id, path)


def _file_ship(job: AudienceExportJob, layout: FileLayout, store: FileStore) -> Ship:
    """The backfill's shipping of a file job: files uploaded, operations handed back."""

    def ship(sealed: Sealed, collect: Callable[[Op], None], stop: threading.Event) -> int:
        return Shipper(job, layout, _Collecting(store, collect), stop=stop)(sealed)

    return ship


class _KafkaStreamStore:
    """``StreamStore`` over the audience topics; the commits reader lives while one batch ships."""

    def __init__(self, job_id: str, kafka: AudienceKafka) -> None:
        self._kafka, self._job_id = kafka, job_id
        self._partition = ops_partition(job_id, kafka.ops_partitions)
        self._commits: WriterCommits | None = None

    def put_op(self, op: Op) -> int:
        return self._kafka.put_op(op.job_id, op.to_bytes())

    def keep(self, file_id: str, data: bytes) -> Any:
        return self._kafka.store_file(file_id, data)

    def applied(self, offset: int) -> bool:
        if self._commits is None:
            self._commits = WriterCommits(self._kafka, self._job_id)
        return self._commits.applied(self._partition, offset)

    def close(self) -> None:
        if self._commits is not None:
            self._commits.close()
            self._commits = None


def _backfill(job: AudienceExportJob, created_at: float, ctx: SinkContext, reader: MembershipReader | None,
              layout: RowLayout, ship: Ship, persist: Callable[[str, bytes], None]) -> Backfill:
    metrics = ctx.metrics
    progress = Progress()

    def scanned(n: int) -> None:
        metrics.backfill_users_total.labels(job.id, "scanned").inc(n)

    def sent(n: int) -> None:
        metrics.backfill_users_total.labels(job.id, "sent").inc(n)

    start = None
    if reader is not None:
        build = BackfillBuild(job.id, job.audience, created_at, layout, reader, ship,
                              ctx.state_dir / "audience-backfill" / job.id, scanned, progress=progress)
        start = run_in_thread(build, f"backfill-{job.id}", ctx.supervisor)
    return Backfill(job.id, created_at, start, lambda value: persist(job.id, value), progress=progress,
                    on_sent=sent)
