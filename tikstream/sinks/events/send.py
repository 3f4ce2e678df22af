"""Sending batches to ``/event/track/`` from a small thread pool, at most ``max_in_flight`` at a time.

The poll-loop thread hands a batch over (``send``) and later collects what finished (``finished``); neither
blocks. The pool has ``max_in_flight`` threads, and up to as many batches more wait in its queue: a thread
that finishes a request starts the next at once instead of waiting for the poll loop's next turn (which may
be a whole consume timeout away). The threads only build the body (the items' bytes joined) and call the
TikTok client, which retries transient failures itself and is safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from typing import Any

from tikstream.sinks.events.batch import Batch, Item, build_body

__all__ = ["Sender"]


class Sender:
    def __init__(self, client: Any, envelope: tuple[bytes, bytes], max_in_flight: int, name: str,
                 executor: Executor | None = None) -> None:
        self._client = client
        self._envelope = envelope
        self.max_in_flight = max_in_flight
        self._executor = executor or ThreadPoolExecutor(max_in_flight, f"events-{name}")
        self._in_flight: list[tuple[Future[Any], Batch]] = []

    def has_room(self) -> bool:
        return len(self._in_flight) < 2 * self.max_in_flight

    def send(self, token: str, batch: Batch) -> None:
        self._in_flight.append((self._executor.submit(self._post, token, batch.items), batch))

    def _post(self, token: str, items: list[Item]) -> Any:  # runs in the pool
        return self._client.track_events(token, build_body(self._envelope, items))

    def finished(self) -> list[tuple[Batch, BaseException | None]]:
        """Batches whose request ended, with the error (None: TikTok accepted them), oldest first."""
        if not self._in_flight:
            return []
        done, still = [], []
        for future, batch in self._in_flight:
            if future.done():
                done.append((batch, future.exception()))
            else:
                still.append((future, batch))
        self._in_flight = still
        return done

    def cancel_queued(self) -> list[Batch]:
        """Take back the batches that wait in the pool's queue (not started); they were not sent."""
        taken, still = [], []
        for future, batch in self._in_flight:
            if future.cancel():
                taken.append(batch)
            else:
                still.append((future, batch))
        self._in_flight = still
        return taken

    def wait(self, timeout: float, sleep: Callable[[float], object]) -> None:
        """Block until one request ends or ``timeout`` passes (for ``flush`` only)."""
        futures = [f for f, _ in self._in_flight]
        if futures:
            wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        else:
            sleep(min(timeout, 0.005))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
