"""Shipping one sealed audience batch (see ``sink``): resolve exits without a profile, write the APPEND and
REMOVE files, upload them, store their content and one pending operation per action. Runs on a worker
thread and retries every step until it succeeds or is stopped."""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from tikstream.jobs.models import AudienceExportJob
from tikstream.sinks.audience.batch import APPEND, REMOVE, count_unresolved, count_users, read_rows
from tikstream.sinks.audience.files import FileLayout, write_files
from tikstream.sinks.audience.ops import Op, UploadedFile

log = logging.getLogger(__name__)

__all__ = ["ACTIONS", "FileStore", "Sealed", "Shipper", "retrying"]

ACTIONS: Final = ((APPEND, "APPEND"), (REMOVE, "REMOVE"))


@dataclass(frozen=True, slots=True)
class Sealed:
    """A batch ready to ship: its SQLite file and a work directory for its files."""

    batch_id: str
    path: Path
    workdir: Path
    dropped: set[int] = field(default_factory=set, compare=False)
    """Partition indices the sink lost before the batch was stored (a streaming batch leaves their rows out)."""
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False)
    """Held by the sink while it adds to ``dropped`` and by a streaming shipper while it stores the batch."""


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
                 retry_first: float = 1.0, retry_cap: float = 15.0,
                 resolve: Callable[[Path], int] | None = None) -> None:
        self._job, self._layout, self._store, self._wall = job, layout, store, wall
        self.stop = stop or threading.Event()
        self._first, self._cap = retry_first, retry_cap
        self._resolve = resolve
        self.last_error: str | None = None
        self.exits_resolved = self.exits_unresolved = 0

    def __call__(self, sealed: Sealed) -> int:
        """Ship; returns the number of users sent."""
        users = 0
        try:
            if self._resolve is not None:
                self._resolve_exits(sealed.path)
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

    def _resolve_exits(self, path: Path) -> None:
        """Give exits without identifiers the hashes of the user's last known profile (see the module doc)."""
        missing = count_unresolved(path)
        if not missing or self._resolve is None:
            return
        resolve = self._resolve
        found = int(self._retrying(lambda: resolve(path)))
        self.exits_resolved += found
        self.exits_unresolved += missing - found
        log.info("exits without a profile looked up in the membership table",
                 extra={"job": self._job.id, "exits": missing, "resolved": found})

    def stats(self) -> dict[str, int]:
        return {"exits_resolved": self.exits_resolved, "exits_unresolved": self.exits_unresolved}

    def _one_file(self, path: Path) -> UploadedFile:
        file_path = self._store.upload(self._layout.calculate_type, path)
        ref = self._store.keep(uuid.uuid4().hex, path)
        return UploadedFile(file_path, path.name, ref)

    def _retrying(self, call: Callable[[], Any]) -> Any:
        def failed(exc: Exception, delay: float) -> None:
            self.last_error = str(exc)
            log.warning("audience batch shipping failed; retrying",
                        extra={"job": self._job.id, "error": str(exc), "retry_in": delay})

        return retrying(call, self.stop, self._first, self._cap, failed)


def retrying(call: Callable[[], Any], stop: threading.Event, first: float, cap: float,
             failed: Callable[[Exception, float], None]) -> Any:
    """``call()`` again after every failure (``failed`` hears of it), with doubling waits from ``first`` to
    ``cap``, until it succeeds; ``InterruptedError`` once ``stop`` is set."""
    delay = first
    while True:
        if stop.is_set():
            raise InterruptedError("shipping stopped")
        try:
            return call()
        except Exception as exc:  # every failure keeps the batch's offsets owed; try again
            failed(exc, delay)
            if stop.wait(delay):
                raise InterruptedError("shipping stopped") from exc
            delay = min(cap, delay * 2)
