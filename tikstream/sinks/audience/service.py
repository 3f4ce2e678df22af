"""The writer role of a process: one thread that owns this instance's share of ``{group_id}.audience-ops``.

Kafka's consumer group ``{group_id}.audience-writers`` gives each ops partition to exactly one instance; every
job maps to one partition, so each job's audience has exactly one writer at a time. The thread consumes the
operations of its partitions, hands each to its job's ``JobWriter`` (held until that job's sink registers),
steps the writers, and commits an operation's offset once it was applied. After a commit it deletes the
records below it from the ops topic (kept without expiry, docs/architecture.md §2) and only then tombstones
the file contents of the operations deleted, so an operation that can still be read again (after a lost
commit, the group reads from the log start offset) still has its files. On revoke it drops the queued
operations of the partitions it lost; their new owner reads them again.

Operations of a job the registry has seen deleted (``is_deleted``) are dropped and committed, so a deleted job
does not hold its partition's commits (and the topic's cleanup) back for ever; operations of a job that is
merely not running here (not registered yet, disabled) wait.

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
from tikstream.sinks.audience.pusher import SegmentWriter
from tikstream.sinks.audience.state import (
    AudienceKafka,
    FileRef,
    KafkaStoreError,
    WriterCommits,
    WriterConsumer,
    ops_partition,
)
from tikstream.sinks.audience.writer import JobWriter
from tikstream.supervise import Policy, Supervised, Supervisor
from tikstream.tiktok.errors import PermanentError

log = logging.getLogger(__name__)

__all__ = ["KafkaWriterStore", "TikTokAudienceApi", "Writer", "WriterService"]


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

    def create_segment(self, name: str) -> str:
        return str(self._client.create_segment_audience(self._token, self._adv, name))

    def mapping(self, body: dict[str, Any]) -> None:
        self._client.segment_mapping(self._token, body)


class KafkaWriterStore:
    """``WriterStore`` over the state and files topics; what it writes also goes into ``cache`` (the service's
    copy of the state topic), so a writer built later in this process starts from it."""

    def __init__(self, kafka: AudienceKafka, cache: dict[str, bytes] | None = None) -> None:
        self._kafka = kafka
        self._cache = cache if cache is not None else {}
        self._marks: dict[str, WriterCommits] = {}

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

    def mark_applied(self, job_id: str, offset: int) -> None:
        """A streaming job's operation at ``offset`` was accepted by TikTok (``WriterCommits``); one commit
        reader per job, kept while the store lives."""
        marks = self._marks.get(job_id)
        if marks is None:
            marks = self._marks[job_id] = WriterCommits(self._kafka, job_id)
        marks.mark(ops_partition(job_id, self._kafka.ops_partitions), offset)

    def close(self) -> None:
        for marks in self._marks.values():
            marks.close()
        self._marks.clear()


Writer = JobWriter | SegmentWriter
"""A job's single writer: customer files (``writer``) or streaming requests (``pusher``)."""
WriterFactory = Callable[[Callable[[list[Op]], None]], Writer]

CLEANUP_INTERVAL = 5.0  # at most one delete of applied operations per this many seconds


class WriterService:
    def __init__(self, kafka: AudienceKafka, *, clock: Callable[[], float] = time.monotonic,
                 on_pending: Callable[[str, int], None] | None = None,
                 is_deleted: Callable[[str], bool] = lambda job_id: False) -> None:
        self.kafka = kafka
        self._clock = clock
        self._on_pending = on_pending
        self._is_deleted = is_deleted
        self._lock = threading.Lock()
        self._writers: dict[str, Writer] = {}
        self._refs: dict[str, int] = {}
        self._orphans: dict[str, list[Op]] = {}
        self._closed: list[tuple[str, Writer]] = []  # writers unregistered, their queues not yet taken back
        self._owned: set[int] = set()
        self._state: dict[str, bytes] = {}
        self._inflight: dict[int, dict[int, bool]] = {}
        self._job_of: dict[int, dict[int, str]] = {}  # partition -> offset -> job, of operations not applied
        self._committed: dict[int, int] = {}
        self._commit_again: dict[int, int] = {}  # commits that failed, sent again with the next
        self._stop = threading.Event()
        self._thread: Supervised | None = None
        self.users = 0
        self._done_files: dict[int, list[tuple[int, FileRef]]] = {}  # partition -> (op offset, file) applied
        self._to_delete: dict[int, int] = {}  # partition -> committed offset not yet deleted below
        self._next_cleanup = 0.0

    # -- sinks ----------------------------------------------------------------------------------------------
    def register(self, job_id: str, factory: WriterFactory) -> Writer:
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
                    self._closed.append((job_id, writer))  # its queue goes back to the orphans (writer thread)

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
                self._drop_deleted()
                self._step_writers()
                self._commit(consumer)
        finally:
            try:
                if self._to_delete:  # what this run committed: deleted now, so its files are not left behind
                    self._cleanup()
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
        self._job_of.setdefault(partition, {})[offset] = op.job_id
        with self._lock:
            writer = self._writers.get(op.job_id)
            if writer is None:
                self._orphans.setdefault(op.job_id, []).append(op)
            else:
                writer.enqueue(op)

    def _drop_deleted(self) -> None:
        """Operations of a job the registry has seen deleted and no writer here applies (never registered, or
        its sink closed): nothing will apply them; mark them done so the partition's commit goes on."""
        with self._lock:
            closed, self._closed = self._closed, []
            for job_id, writer in closed:  # not applied: kept for a later sink of the job, or dropped below
                if writer.queue and job_id not in self._writers and self.owns(job_id):
                    self._orphans.setdefault(job_id, [])[:0] = list(writer.queue)
        pending = {job_id for jobs in self._job_of.values() for job_id in jobs.values()}
        if not pending:
            return
        with self._lock:
            gone = {job_id for job_id in pending if job_id not in self._writers and self._is_deleted(job_id)}
            for job_id in gone:
                self._orphans.pop(job_id, None)
        dropped = 0
        for partition, jobs in self._job_of.items():
            for offset in [o for o, job_id in jobs.items() if job_id in gone]:
                self._inflight.setdefault(partition, {})[offset] = True
                del jobs[offset]
                dropped += 1
        if dropped:
            log.info("pending audience operations of deleted jobs dropped",
                     extra={"jobs": sorted(gone), "operations": dropped})

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
        done = self._done_files.setdefault(partition, [])
        jobs = self._job_of.get(partition, {})
        for op in ops:
            if op.offset >= 0 and op.offset not in still:
                inflight[op.offset] = True
                jobs.pop(op.offset, None)
                done.extend((op.offset, ref) for f in op.files if (ref := f.ref) is not None)

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
                self._to_delete.update(offsets)
        if self._to_delete and self._clock() >= self._next_cleanup:
            self._cleanup()

    def _cleanup(self) -> None:
        """Delete the committed operations from the ops topic, then tombstone the files of those deleted."""
        todo, self._to_delete = self._to_delete, {}
        deleted = self.kafka.delete_ops_before(todo)
        for partition, offset in todo.items():
            if partition not in deleted:
                self._to_delete.setdefault(partition, offset)  # refused: again at the next cleanup
        self._next_cleanup = self._clock() + CLEANUP_INTERVAL
        refs: list[FileRef] = []
        for partition, low in deleted.items():
            done = self._done_files.get(partition, [])
            refs += [ref for offset, ref in done if offset < low]
            self._done_files[partition] = [(offset, ref) for offset, ref in done if offset >= low]
        if refs:
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
            self._job_of.pop(p, None)
            committed = self._committed.pop(p, -1)
            # the new owner applies again what was not committed, with its files; the rest is cleaned up here
            self._done_files[p] = [(o, ref) for o, ref in self._done_files.get(p, []) if o < committed]
            self._commit_again.pop(p, None)

    def owns(self, job_id: str) -> bool:
        return ops_partition(job_id, self.kafka.ops_partitions) in self._owned


def _record(value: bytes | None) -> AudienceRecord | None:
    return None if value is None else AudienceRecord.from_bytes(value)
