"""The events sink's side of parking: park held items, read parked records back as items.

``tikstream.sinks.events.parking`` says where parked records live and how they are read; this module turns sink
items into parked records (original value, ``ts_ms`` and source headers, a key of their own) and parked
records back into items, mapped by the current job version, owing their parked offset to the reader.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson

from tikstream.errors import InvalidRecord
from tikstream.records import Trigger, decode
from tikstream.sinks.events.batch import Item
from tikstream.sinks.events.parking import ParkedRecord, ParkedSource, Parking, parked_key

__all__ = ["ParkingDesk", "original_value"]

log = logging.getLogger(__name__)


def original_value(trigger: Trigger) -> bytes:
    """The trigger record's bytes: ``trigger.raw`` when the decoder keeps it, else the decoded doc again."""
    raw = getattr(trigger, "raw", None)
    return raw if isinstance(raw, bytes) and raw else orjson.dumps(trigger.doc)


class ParkingDesk:
    """Parks items of one job and reads its parked records back (poll-loop thread only)."""

    def __init__(self, job_id: str, parking: Parking, mapper: Callable[[Trigger], dict[str, Any] | None],
                 dlq: Any, *, redrain_seconds: float, now: float) -> None:
        self._job_id = job_id
        self.parking = parking
        self._map = mapper
        self._dlq = dlq
        self._redrain = redrain_seconds
        self._next_drain = now  # drain what earlier runs left at start
        self.reader: ParkedSource | None = None

    def park(self, item: Item, on_stored: Callable[[object], None]) -> None:
        t, p = item.partition
        trigger = item.trigger
        headers = [("ts_ms", str(round(trigger.ts * 1000)).encode()), ("job", self._job_id.encode()),
                   ("source_topic", t.encode()), ("source_partition", str(p).encode()),
                   ("source_offset", str(item.offset).encode())]
        key = parked_key(self._job_id, t, p, item.offset)
        self.parking.park(key, original_value(trigger), headers, item, on_stored)

    def delivered(self, item: Item) -> None:
        """A parked item was accepted: tell its reader, and tombstone the parked record."""
        if item.origin is not None:
            item.origin.done(item.partition[1], item.offset, item.key)
        if item.key is not None:
            self.parking.forget(item.key)

    def stop_reading(self, wait: float = 0.0) -> None:
        if self.reader is not None:
            self.reader.close(wait)
            self.reader = None

    def drain_soon(self, now: float) -> None:
        self._next_drain = now

    def read(self, now: float, room: int) -> list[Item]:
        """Up to ``room`` parked records of this job as items (opening a reader when a drain is due)."""
        if self.reader is None:
            if now < self._next_drain:
                return []
            self.reader = self.parking.open_reader()
            self._next_drain = now + self._redrain
        reader = self.reader
        items = []
        if room > 0:
            for rec in reader.take(room):
                item = self._item(reader, rec)
                if item is not None:
                    items.append(item)
        if reader.finished:
            self.reader = None
        return items

    def _item(self, reader: ParkedSource, rec: ParkedRecord) -> Item | None:
        ts_raw = rec.headers.get("ts_ms")
        try:
            trigger = decode(rec.value, int(ts_raw) if ts_raw else None)
        except (InvalidRecord, ValueError) as exc:  # not written by tikstream: dead-letter it
            self._dlq.send((self.parking.topic, rec.partition), rec.offset, rec.key, rec.value,
                           error_class="invalid_parked", error=str(exc), job=self._job_id)
            reader.done(rec.partition, rec.offset, rec.key)
            return None
        try:
            event = self._map(trigger)
        except InvalidRecord as exc:  # a newer version of the job cannot use it (a crm job without its lead id)
            self._dlq.send((self.parking.topic, rec.partition), rec.offset, rec.key, rec.value,
                           error_class=exc.reason, error=exc.detail, job=self._job_id)
            reader.done(rec.partition, rec.offset, rec.key)
            return None
        if event is None:  # a newer version of the job no longer wants it
            reader.done(rec.partition, rec.offset, rec.key)
            if rec.key is not None:
                self.parking.forget(rec.key)
            return None
        return Item(orjson.dumps(event), (self.parking.topic, rec.partition), rec.offset, trigger, reader, rec.key)

    def close(self) -> None:
        self.stop_reading(wait=5.0)
        self.parking.close()
