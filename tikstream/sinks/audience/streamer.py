"""Shipping one sealed batch of a streaming job (``delivery: streaming``, docs/architecture.md §4.1).

The sink seals a batch at ``stream_batch_max`` users or ``stream_linger_ms`` (a user's last trigger wins, as
for files). ``Streamer`` then, on the sink's worker thread:

1. gives exits without a profile the hashes of the user's last known profile (the membership table);
2. holding the batch's lock, leaves out the rows of partitions the sink lost meanwhile (``Sealed.dropped``),
   cuts the batch into ``add`` and ``delete`` requests of at most ``stream_batch_max`` rows and stores each
   as an operation in ``{group_id}.audience-ops`` (its rows inline, or in ``{group_id}.audience-files`` when
   too large for a record);
3. waits until the job's single writer (``pusher``) has had TikTok accept every one of them: it commits
   their offsets for the job's own group (``state.applied_group``), read here without joining.

Only then does the sink release the batch's offsets: a trigger's offset is committed after TikTok accepted
the request holding its row. A crash before that replays the trigger; the replay is the same add or delete,
harmless. Ordering: every request of a job goes through its one writer, in ops-topic order. The sink's
``drop`` (on revoke) takes each unstored batch's lock, so once a partition is revoked this instance stores no
more rows of it: the new owner's operations for those users come after every operation of the old owner.
Not guaranteed: an instance that the group expelled without a revoke (frozen past the session timeout) may
still store a stale batch after the new owner's first ones, until its next poll; and a revoke waits at most
``sink.DROP_WAIT_SECONDS`` for a batch Kafka does not take (then the batch may still be stored later).

``collect`` is the backfill's variant: the same operations, rows always in the files topic (they are kept
in the state topic until applied), handed back instead of stored.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Protocol

import orjson

from tikstream.jobs.models import AudienceExportJob
from tikstream.sinks.audience.batch import count_unresolved, drop_sealed
from tikstream.sinks.audience.ops import Op, UploadedFile
from tikstream.sinks.audience.segment import SEGMENT, Chunk, SegmentLayout, chunks
from tikstream.sinks.audience.ship import Sealed, retrying

log = logging.getLogger(__name__)

__all__ = ["INLINE_MAX_BYTES", "StreamStore", "Streamer"]

INLINE_MAX_BYTES: Final = 800_000
"""Rows larger than this go to the files topic: an ops record must stay below the broker's default 1 MB."""


class StreamStore(Protocol):
    """Where a streaming batch goes. Methods block until done and raise on failure."""

    def put_op(self, op: Op) -> int: ...  # the offset in the job's ops partition
    def keep(self, file_id: str, data: bytes) -> Any: ...  # a durable copy of the rows; returns its FileRef
    def applied(self, offset: int) -> bool: ...  # whether the job's writer applied the op at ``offset``
    def close(self) -> None: ...  # the shipping thread is done with it for now


class Streamer:
    """Ships a sealed streaming batch (see the module docstring); retries each step until it succeeds or
    ``stop`` is set (then ``InterruptedError``). Runs on the sink's worker thread."""

    def __init__(self, job: AudienceExportJob, layout: SegmentLayout, store: StreamStore, *,
                 wall: Callable[[], float] = time.time, stop: threading.Event | None = None,
                 retry_first: float = 1.0, retry_cap: float = 60.0, poll_every: float = 0.05,
                 resolve: Callable[[Path], int] | None = None, inline_max: int = INLINE_MAX_BYTES) -> None:
        self._job, self._layout, self._store, self._wall = job, layout, store, wall
        self.stop = stop or threading.Event()
        self._first, self._cap, self._every = retry_first, retry_cap, poll_every
        self._resolve, self._inline_max = resolve, inline_max
        self.last_error: str | None = None
        self.exits_resolved = self.exits_unresolved = 0

    def __call__(self, sealed: Sealed) -> int:
        """Store the batch's requests and wait until TikTok accepted them; returns the users sent."""
        try:
            self._resolve_exits(sealed.path)
            with sealed.lock:
                drop_sealed(sealed.path, sealed.dropped)
                ops = self.build(sealed, inline=True)
                offsets = [self._retrying(lambda op=op: self._store.put_op(op)) for op in ops]  # type: ignore[misc]
            for offset in offsets:
                self._wait_applied(offset)
        finally:
            self._store.close()
            shutil.rmtree(sealed.workdir, ignore_errors=True)
            sealed.path.unlink(missing_ok=True)
        self.last_error = None
        return sum(op.users for op in ops)

    def collect(self, sealed: Sealed, collect: Callable[[Op], None], stop: threading.Event) -> int:
        """The backfill's shipping: the operations go to ``collect``, their rows to the files topic."""
        self.stop = stop
        try:
            ops = self.build(sealed, inline=False)
        finally:
            sealed.path.unlink(missing_ok=True)
        for op in ops:
            collect(op)
        return sum(op.users for op in ops)

    def build(self, sealed: Sealed, *, inline: bool) -> list[Op]:
        """The operations of a sealed batch, one per request (ids ``{batch}-{n}``)."""
        return [self._op(f"{sealed.batch_id}-{n}", chunk, inline)
                for n, chunk in enumerate(chunks(sealed.path, self._job.stream_batch_max))]

    def _op(self, batch_id: str, chunk: Chunk, inline: bool) -> Op:
        payload = {"id_schema": list(self._layout.id_schema), "rows": list(chunk.lines)}
        data = orjson.dumps(payload)
        job, now = self._job, self._wall()
        if inline and len(data) <= self._inline_max:
            return Op(job.id, batch_id, chunk.action, SEGMENT, job.advertiser_id, (), chunk.users, now,
                      segment=payload)
        ref = self._retrying(lambda: self._store.keep(uuid.uuid4().hex, data))
        return Op(job.id, batch_id, chunk.action, SEGMENT, job.advertiser_id,
                  (UploadedFile("", f"{batch_id}.json", ref),), chunk.users, now)

    def _wait_applied(self, offset: int) -> None:
        while not self._retrying(lambda: self._store.applied(offset)):
            if self.stop.wait(self._every):
                raise InterruptedError("shipping stopped")

    def _resolve_exits(self, path: Path) -> None:
        missing = count_unresolved(path)
        resolve = self._resolve
        if not missing or resolve is None:
            return
        found = int(self._retrying(lambda: resolve(path)))
        self.exits_resolved += found
        self.exits_unresolved += missing - found

    def stats(self) -> dict[str, int]:
        return {"exits_resolved": self.exits_resolved, "exits_unresolved": self.exits_unresolved}

    def _retrying(self, call: Callable[[], Any]) -> Any:
        def failed(exc: Exception, delay: float) -> None:
            self.last_error = str(exc)
            log.warning("streaming audience batch not stored yet; retrying",
                        extra={"job": self._job.id, "error": str(exc), "retry_in": delay})

        return retrying(call, self.stop, self._first, self._cap, failed)
