"""Composition of the ``audience_export`` sink: the sink, its shipper, the process's writer service, the job's
writer and its backfill, wired to Kafka, TikTok and the membership table. No logic of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from tikstream.jobs.models import AudienceExportJob
from tikstream.mapping.compile import IdentifierCounts
from tikstream.sinks.audience import service as audience_service
from tikstream.sinks.audience.batch import resolve_removes
from tikstream.sinks.audience.files import FileLayout
from tikstream.sinks.audience.ops import Op
from tikstream.sinks.audience.ship import FileStore, Sealed, Shipper
from tikstream.sinks.audience.sink import AudienceExportSink
from tikstream.sinks.audience.writer import JobWriter
from tikstream.sinks.base import SinkContext

__all__ = ["build"]


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


def build(version: Any, ctx: SinkContext) -> AudienceExportSink:
    """The sink of one ``audience_export`` job version, wired to Kafka, TikTok and the process's writer service.

    The membership table's reader comes from ``ctx.extras["membership"]`` (the app's ``MembershipRecorder``);
    without it, exits without a profile are not looked up and ``existing_users`` sends nobody.
    """
    job: AudienceExportJob = version.job
    metrics = ctx.metrics
    reader = getattr(ctx.extras.get("membership"), "reader", None)

    def on_pending(job_id: str, n: int) -> None:
        metrics.audience_pending_files.labels(job_id).set(n)

    service = audience_service.acquire(ctx.kafka_config, ctx.group_id, on_pending)
    store = _KafkaFileStore(job, ctx, service.kafka)

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

        writer_store = service.store()
        backfill = (_backfill(version, ctx, reader, store, writer_store.put_backfill)
                    if job.existing_users else None)
        return JobWriter(job.id, job.audience_name_prefix, job.audience, api, writer_store, applied,
                         on_state=on_state, backfill=backfill)

    writer = service.register(job.id, factory)
    counts = IdentifierCounts(sorted(set(job.identifiers.values())))
    layout = FileLayout(job.identifiers, job.default_phone_region, counts)
    stop = threading.Event()
    shipper = Shipper(job, layout, store, stop=stop,
                      resolve=None if reader is None else _resolver(job, reader, stop))

    def writer_status() -> Mapping[str, Any] | None:
        return writer.status() if service.owns(job.id) else None

    def on_close() -> None:
        shipper.stop.set()
        service.unregister(job.id)
        audience_service.release(service)

    return AudienceExportSink(job, ctx.state_dir, shipper, metrics=metrics, writer_status=writer_status,
                              on_close=on_close, layout=layout, counts=counts)


def _resolver(job: AudienceExportJob, reader: Any, stop: threading.Event) -> Callable[[Path], int]:
    """Looks exits without identifiers up in the membership table (on the shipping thread)."""
    layout = FileLayout(job.identifiers, job.default_phone_region)  # not the sink's: its counts are not shared

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


def _backfill(version: Any, ctx: SinkContext, reader: Any, store: FileStore,
              persist: Callable[[str, bytes], None]) -> Any:
    from tikstream.sinks.audience.backfill import Backfill, BackfillBuild, Progress, run_in_thread

    job: AudienceExportJob = version.job
    metrics = ctx.metrics
    progress = Progress()
    layout = FileLayout(job.identifiers, job.default_phone_region)

    def ship(sealed: Sealed, collect: Callable[[Op], None], stop: threading.Event) -> int:
        return Shipper(job, layout, _Collecting(store, collect), stop=stop)(sealed)

    def scanned(n: int) -> None:
        metrics.backfill_users_total.labels(job.id, "scanned").inc(n)

    def sent(n: int) -> None:
        metrics.backfill_users_total.labels(job.id, "sent").inc(n)

    start = None
    if reader is not None:
        build = BackfillBuild(job.id, job.audience, version.created_at, layout, reader, ship,
                              ctx.state_dir / "audience-backfill" / job.id, scanned, progress=progress)
        start = run_in_thread(build, f"backfill-{job.id}")
    return Backfill(job.id, version.created_at, start, lambda value: persist(job.id, value), progress=progress,
                    on_sent=sent)
