"""The writer role of a process: one thread that owns this instance's share of ``{group_id}.audience-ops``.

Kafka's consumer group ``{group_id}.audience-writers`` gives each ops partition to exactly one instance; every
job maps to one partition, so each job's audience has exactly one writer at a time. The thread consumes the
operations of its partitions, hands each to its job's ``JobWriter`` (held until that job's sink registers),
steps the writers, and commits an operation's offset once it was applied (then tombstones its file contents).
On revoke it drops the queued operations of the partitions it lost; their new owner reads them again.

One service per process, shared by the audience sinks; ``tikstream.sinks.audience.build.AudienceExport`` (built
once by the composition root) starts it with the first audience sink and stops it after the last.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from tikstream.sinks.audience.backfill import state_key
from tikstream.sinks.audience.ops import AudienceRecord, Op
from tikstream.sinks.audience.state import AudienceKafka, FileRef, KafkaStoreError, WriterConsumer, ops_partition
from tikstream.sinks.audience.writer import JobWriter
from tikstream.supervise import Policy, Supervised, Supervisor
from tikstream.tiktok.errors import PermanentError

log = logging.getLogger(__name__)

__all__ = ["KafkaWriterStore", "TikTokAudienceApi", "WriterService"]


class TikTokAudienceApi:
    """``AudienceApi`` over the shared ``TikTokClient`` for one token and advertiser."""

    def __init__(self, client: Any, token: str, advertiser_id: str, retention_in_days: int | None) -> None:
        self._client, self._token, self._adv, self._retention = client, token, advertiser_id, retention_in_days

    def create(self, name: str, calculate_type: str, file_paths: Sequence[str]) -> str:
        return str(self._client.create_audience(self._token, self._adv, name, calculate_type, list(file_paths),
                                                retention_in_days=self._retention))

    def update(self, audience_id: str, action: str, file_paths: Sequence[str]) -> None:
        self._client.update_audience(self._token, self._adv, audience_id, action, list(file_paths))

    def is_valid(self, audience_id: str) -> bool:
        found = self._client.get_audiences(self._token, self._adv, [audience_id])
        if not found:
            raise PermanentError(f"audience {audience_id} not found", endpoint="dmp/custom_audience/get/")
        return bool(found[0].is_valid)

    def find_by_name(self, name: str) -> str | None:
        for details in self._client.list_audiences(self._token, self._adv):
            if details.name == name:
                return str(details.audience_id)
        return None

    def upload(self, calculate_type: str, data: bytes, filename: str) -> str:
        return str(self._client.upload_audience_file(self._token, self._adv, calculate_type, data, filename))


class KafkaWriterStore:
    """``WriterStore`` over the state and files topics; what it writes also goes into ``cache`` (the service's
    copy of the state topic), so a writer built later in this process starts from it."""

    def __init__(self, kafka: AudienceKafka, cache: dict[str, bytes] | None = None) -> None:
        self._kafka = kafka
        self._cache = cache if cache is not None else {}

    def put_audience(self, job_id: str, record: AudienceRecord) -> None:
        self._put(job_id, record.to_bytes())

    def put_backfill(self, job_id: str, value: bytes) -> None:
        self._put(state_key(job_id), value)

    def _put(self, key: str, value: bytes) -> None:
        self._kafka.put_state(key, value)
        self._cache[key] = value

    def read_file(self, ref: FileRef) -> bytes:
        return self._kafka.read_file(ref)

    def read_files(self, refs: list[FileRef]) -> dict[str, bytes]:
        return self._kafka.read_files(refs)


WriterFactory = Callable[[Callable[[list[Op]], None]], JobWriter]


class WriterService:
    def __init__(self, kafka: AudienceKafka, *, clock: Callable[[], float] = time.monotonic,
                 on_pending: Callable[[str, int], None] | None = None) -> None:
        self.kafka = kafka
        self._clock = clock
        self._on_pending = on_pending
        self._lock = threading.Lock()
        self._writers: dict[str, JobWriter] = {}
        self._refs: dict[str, int] = {}
        self._orphans: dict[str, list[Op]] = {}
        self._owned: set[int] = set()
        self._state: dict[str, bytes] = {}
        self._inflight: dict[int, dict[int, bool]] = {}
        self._committed: dict[int, int] = {}
        self._commit_again: dict[int, int] = {}  # commits that failed, sent again with the next
        self._stop = threading.Event()
        self._thread: Supervised | None = None
        self.users = 0
        self._done_files: list[FileRef] = []

    # -- sinks ----------------------------------------------------------------------------------------------
    def register(self, job_id: str, factory: WriterFactory) -> JobWriter:
        with self._lock:
            writer = self._writers.get(job_id)
            if writer is None:
                writer = factory(lambda ops: self._applied(job_id, ops))
                self._writers[job_id] = writer
                if ops_partition(job_id, self.kafka.ops_partitions) in self._owned:
                    writer.load(_record(self._state.get(job_id)), self._state.get(state_key(job_id)))
                for op in self._orphans.pop(job_id, []):
                    writer.enqueue(op)
            self._refs[job_id] = self._refs.get(job_id, 0) + 1
            return writer

    def unregister(self, job_id: str) -> None:
        with self._lock:
            self._refs[job_id] = self._refs.get(job_id, 1) - 1
            if self._refs[job_id] <= 0:
                self._refs.pop(job_id, None)
                writer = self._writers.pop(job_id, None)
                if writer is not None:
                    writer.close()

    def start(self, supervisor: Supervisor) -> None:
        """Start the writer thread, supervised with policy RESTART (see ``_run``)."""
        self._thread = supervisor.spawn("audience-writer", self._run, Policy.RESTART, self._stop)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the thread -----------------------------------------------------------------------------------------
    def _run(self, stop: threading.Event) -> None:
        """The writer thread's body. Supervised with policy RESTART: after a failure it runs again with
        backoff, which is safe because its work is idempotent. A new run forgets what the last one owned,
        joins the writers group again and reads the operations from the last commit; operations are set
        operations, and a job's audience is found by its stored record, never created twice."""
        if self._owned:
            self._revoked(sorted(self._owned))
        consumer = WriterConsumer(self.kafka, self._assigned, self._revoked)
        try:
            while not stop.is_set():
                for record in consumer.poll(0.1):
                    self._dispatch(record.partition, record.offset, record.job_id, record.value)
                self._step_writers()
                self._commit(consumer)
        finally:
            consumer.close()

    def _dispatch(self, partition: int, offset: int, job_id: str, value: bytes) -> None:
        inflight = self._inflight.setdefault(partition, {})
        try:
            op = Op.from_bytes(value, offset)
        except (ValueError, KeyError, TypeError):
            log.error("unreadable audience operation skipped", extra={"partition": partition, "offset": offset})
            inflight[offset] = True
            return
        inflight[offset] = False
        with self._lock:
            writer = self._writers.get(op.job_id)
            if writer is None:
                self._orphans.setdefault(op.job_id, []).append(op)
            else:
                writer.enqueue(op)

    def _step_writers(self) -> None:
        with self._lock:
            writers = list(self._writers.items())
        now = self._clock()
        for job_id, writer in writers:
            writer.step(now)
            if self._on_pending is not None:
                self._on_pending(job_id, writer.pending_files)

    def _applied(self, job_id: str, ops: list[Op]) -> None:
        partition = ops_partition(job_id, self.kafka.ops_partitions)
        writer = self._writers.get(job_id)
        still = {op.offset for op in writer.queue} if writer is not None else set()
        inflight = self._inflight.setdefault(partition, {})
        for op in ops:
            if op.offset >= 0 and op.offset not in still:
                inflight[op.offset] = True
        self._done_files.extend(ref for op in ops for f in op.files if (ref := f.ref) is not None)

    def _commit(self, consumer: WriterConsumer) -> None:
        offsets: dict[int, int] = {}
        for partition, inflight in self._inflight.items():
            nxt = None
            for offset in sorted(inflight):
                if not inflight[offset]:
                    break
                nxt = offset + 1
                del inflight[offset]
            if nxt is not None and nxt > self._committed.get(partition, -1):
                offsets[partition] = nxt
        offsets = {**self._commit_again, **offsets}  # a newer offset of a partition wins: they only grow
        if offsets:
            try:
                consumer.commit(offsets)
            except KafkaStoreError as exc:  # e.g. during a rebalance or a broker restart: the work is applied,
                # only its commit waits; a dead thread would rejoin the group and move partitions for nothing
                log.warning("audience-ops commit failed; tried again on the next turn",
                            extra={"partitions": sorted(offsets), "error": str(exc)})
                self._commit_again = offsets
            else:
                self._committed.update(offsets)
                self._commit_again = {}
        if self._done_files:
            refs, self._done_files = self._done_files, []
            try:
                self.kafka.forget_files(refs)
            except Exception:  # garbage left in a compacted topic, not a correctness problem
                log.warning("could not tombstone applied audience files", exc_info=True)

    def store(self) -> KafkaWriterStore:
        return KafkaWriterStore(self.kafka, self._state)

    def _assigned(self, partitions: list[int]) -> None:
        if not partitions:  # a cooperative rebalance that brought nothing here
            return
        state = self.kafka.read_state()
        self._state.clear()
        self._state.update(state)
        with self._lock:
            self._owned.update(partitions)
            for job_id, writer in self._writers.items():
                if ops_partition(job_id, self.kafka.ops_partitions) in partitions:
                    writer.load(_record(self._state.get(job_id)), self._state.get(state_key(job_id)))
        log.info("audience writer partitions assigned", extra={"partitions": partitions})

    def _revoked(self, partitions: list[int]) -> None:
        with self._lock:
            self._owned.difference_update(partitions)
            for job_id, writer in self._writers.items():
                if ops_partition(job_id, self.kafka.ops_partitions) in partitions:
                    writer.forget()
            for job_id in [j for j in self._orphans if ops_partition(j, self.kafka.ops_partitions) in partitions]:
                del self._orphans[job_id]
        for p in partitions:
            self._inflight.pop(p, None)
            self._committed.pop(p, None)
            self._commit_again.pop(p, None)

    def owns(self, job_id: str) -> bool:
        return ops_partition(job_id, self.kafka.ops_partitions) in self._owned


def _record(value: bytes | None) -> AudienceRecord | None:
    return None if value is None else AudienceRecord.from_bytes(value)
