"""Honest in-memory stand-ins for the events sink's collaborators: a TikTok client, an executor the test
runs by hand, an authorization store, a dead-letter writer, parking, and a clock."""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

import orjson

from tikstream.auth import EventsToken, OfflineToken
from tikstream.sinks.events.parked_topic import ParkedRecord
from tikstream.tiktok.errors import PermanentError, ReauthorizeError
from tikstream.tiktok.models import Envelope

OK = Envelope(0, "OK", "req-1", {})


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ManualExecutor(Executor):
    """Runs nothing until the test calls ``run`` (a thread pool whose threads the test drives)."""

    def __init__(self) -> None:
        self.queue: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        self.shut = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.queue.append((future, fn, args))
        return future

    def run(self, n: int | None = None) -> int:
        done = 0
        while self.queue and (n is None or done < n):
            future, fn, args = self.queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while queued, as a pool would skip it
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)
            done += 1
        return done

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.shut = True


@dataclass
class Request:
    token: str
    body: dict[str, Any]

    @property
    def event_ids(self) -> list[str]:
        return [e["event_id"] for e in self.body["data"]]


Responder = Callable[[str, dict[str, Any]], Envelope]


class FakeClient:
    """Records every ``track_events`` call; ``respond`` decides the answer (default: accept)."""

    def __init__(self, respond: Responder | None = None) -> None:
        self.requests: list[Request] = []
        self.respond: Responder = respond or (lambda token, body: OK)

    def track_events(self, token: str, body: bytes | Mapping[str, Any]) -> Envelope:
        doc = orjson.loads(body) if isinstance(body, bytes) else dict(body)
        self.requests.append(Request(token, doc))
        return self.respond(token, doc)

    def accepted_ids(self) -> list[str]:
        return [i for r in self.requests for i in r.event_ids]


def reject_users(bad: set[str], *, name_index: bool = False) -> Responder:
    """TikTok failing a whole batch with 40002 when it holds an event of a user in ``bad`` (by the SHA-256 of
    the user id in ``external_id``)."""
    hashes = {hashlib.sha256(u.encode()).hexdigest() for u in bad}

    def respond(token: str, body: dict[str, Any]) -> Envelope:
        for i, event in enumerate(body["data"]):
            if set(event["user"].get("external_id", [])) & hashes:
                where = f"data.{i}.user.external_id" if name_index else "user.external_id"
                raise PermanentError(f"{where}: Not valid", endpoint="event/track/", code=40002)
        return OK

    return respond


def revoked(tokens: set[str]) -> Responder:
    def respond(token: str, body: dict[str, Any]) -> Envelope:
        if token in tokens:
            raise ReauthorizeError("Access token is invalid", endpoint="event/track/", code=40105)
        return OK

    return respond


class FakeAuthStore:
    def __init__(self, auths: dict[str, Any] | None = None) -> None:
        self.auths = dict(auths or {})
        self.refreshes = 0

    def get(self, name: str) -> Any:
        return self.auths.get(name)

    def refresh(self) -> bool:
        self.refreshes += 1
        return False

    def set_token(self, name: str, token: str) -> None:
        self.auths[name] = events_token(token)


def events_token(token: str) -> EventsToken:
    return EventsToken(kind="events_token", access_token=token)


def offline_token(token: str, event_set_id: str) -> OfflineToken:
    return OfflineToken(kind="offline_token", access_token=token, event_set_id=event_set_id)


@dataclass
class DeadLetter:
    partition: tuple[str, int]
    offset: int
    key: bytes | None
    value: bytes | None
    error_class: str
    error: str
    job: str | None


@dataclass
class FakeDLQ:
    sent: list[DeadLetter] = field(default_factory=list)

    def send(self, partition: tuple[str, int], offset: int, key: bytes | None, value: bytes | None, *,
             error_class: str, error: str, job: str | None = None) -> None:
        self.sent.append(DeadLetter(partition, offset, key, value, error_class, error, job))


class MemoryParking:
    """Parking in a list: a record is stored at once and acknowledged at the next ``poll`` (as a producer's
    delivery callback would be); readers see the stored records that are neither done nor tombstoned."""

    topic = "g.parked"

    def __init__(self) -> None:
        self.records: list[ParkedRecord] = []
        self.tombstoned: set[bytes] = set()
        self.committed: set[int] = set()  # offsets done by a reader
        self._acks: list[tuple[object, Callable[[object], None]]] = []
        self.readers: list[MemoryReader] = []
        self.closed = False

    def park(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]], token: object,
             on_stored: Callable[[object], None]) -> None:
        self.records.append(ParkedRecord(0, len(self.records), key, value, dict(headers)))
        self._acks.append((token, on_stored))

    def forget(self, key: bytes) -> None:
        self.tombstoned.add(key)

    def waiting(self) -> list[ParkedRecord]:
        return [r for r in self.records if r.offset not in self.committed]

    def open_reader(self) -> MemoryReader:
        reader = MemoryReader(self, self.waiting())
        self.readers.append(reader)
        return reader

    def poll(self) -> None:
        acks, self._acks = self._acks, []
        for token, on_stored in acks:
            on_stored(token)

    def flush(self, timeout: float) -> bool:
        self.poll()
        return True

    def close(self) -> None:
        self.closed = True


class MemoryReader:
    def __init__(self, parking: MemoryParking, records: Iterable[ParkedRecord]) -> None:
        self._parking = parking
        self._buffer = deque(records)
        self._owed: set[int] = set()
        self.closed = False

    @property
    def finished(self) -> bool:
        return self.closed or (not self._buffer and not self._owed)

    def take(self, max_records: int) -> list[ParkedRecord]:
        out: list[ParkedRecord] = []
        while self._buffer and len(out) < max_records:
            rec = self._buffer.popleft()
            self._owed.add(rec.offset)
            out.append(rec)
        return out

    def done(self, partition: int, offset: int, key: bytes | None) -> None:
        if offset in self._owed and not self.closed:
            self._owed.discard(offset)
            self._parking.committed.add(offset)

    def close(self, wait: float = 0.0) -> None:
        self.closed = True
