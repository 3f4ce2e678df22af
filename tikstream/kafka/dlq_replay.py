"""Dead-letter replay (``tikstream dlq replay``) and a read-only scan of the DLQ topic.

A replay re-injects dead letters into the topic they came from (header ``source_topic``) with their original
key and value, so that, after a fix (a token renewed, a job corrected, a decoder bug fixed), the jobs process
them again. Each replayed record carries the header ``replayed_from`` = ``{dlq}/{partition}/{offset}``.

Progress lives in the replay's own consumer group, ``{group_id}.dlq-replay``. For each DLQ partition the
committed offset is the first letter not yet *handled*, and the commit metadata lists the letters after it that
were already replayed. A replay filtered with ``--job`` leaves other jobs' letters unhandled, for a later
replay; a letter is replayed once, whatever the filters of successive replays. Letters that cannot be replayed
(no ``source_topic``, or the value was too large to keep: header ``value_omitted``) count as handled by a replay
that selects them, and are reported.

Guarantee: at-least-once. Replayed records are produced and acknowledged before the progress is committed; a
crash in between replays them again on the next run, which is harmless (events carry stable ids when the
trigger has a ``ts``; audience operations are set operations).

Not guaranteed: two replays running at the same time over the same group may both replay a letter. Replayed
records are new records: they reach every job that now wants them, not only the job named by ``--job``. When
the metadata of a partition would pass ``MAX_PROGRESS_CHARS`` (many letters of one job interleaved with others'
in a filtered replay), the rest of that partition is *deferred* and reported; a replay without ``--job`` clears
it.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from tikstream.errors import ConfigError
from tikstream.kafka.producer import Delivery, TrackedProducer, produce_waiting
from tikstream.kafka.reader import Committed, EndReader
from tikstream.kafka.record import Record
from tikstream.records import Partition

__all__ = [
    "MAX_PROGRESS_CHARS",
    "DeadLetter",
    "ReplayReport",
    "decode_progress",
    "encode_progress",
    "read_dead_letters",
    "replay_dead_letters",
    "replay_group",
]

MAX_PROGRESS_CHARS: Final = 3500  # brokers keep up to offset.metadata.max.bytes (4096 by default)
_PROGRESS_PREFIX: Final = "replayed:"
_RANGE: Final = re.compile(r"(\d+)(?:-(\d+))?")


def replay_group(group_id: str) -> str:
    """The consumer group that keeps replay progress for a deployment."""
    return f"{group_id}.dlq-replay"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One DLQ record: the original key and value, and the headers the DLQ writer added."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Mapping[str, str]

    @property
    def job(self) -> str | None:
        return self.headers.get("job")

    @property
    def error_class(self) -> str:
        return self.headers.get("error_class", "unknown")

    @property
    def source_topic(self) -> str | None:
        return self.headers.get("source_topic") or None

    @property
    def replayable(self) -> bool:
        return self.source_topic is not None and "value_omitted" not in self.headers


@dataclass(slots=True)
class ReplayReport:
    """What a replay did (or, with ``dry_run``, would do)."""

    dry_run: bool
    scanned: int = 0
    selected: int = 0  # letters the filters selected, replayed now or earlier
    replayed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (source topic, job or "-") -> n
    unreplayable: int = 0
    left_for_later: int = 0  # not selected by the filters: kept for a later replay
    already_replayed: int = 0
    deferred: int = 0

    @property
    def replayed_total(self) -> int:
        return sum(self.replayed.values())


# -- progress metadata (pure) -------------------------------------------------------------------------------

def encode_progress(offsets: Iterable[int]) -> str:
    """Offsets as ranges, e.g. ``replayed:4-6,9``; empty string for none."""
    ranges: list[str] = []
    run: list[int] = []
    for o in sorted(set(offsets)):
        if run and o == run[-1] + 1:
            run.append(o)
            continue
        if run:
            ranges.append(_range(run))
        run = [o]
    if run:
        ranges.append(_range(run))
    return _PROGRESS_PREFIX + ",".join(ranges) if ranges else ""


def _range(run: list[int]) -> str:
    return str(run[0]) if run[0] == run[-1] else f"{run[0]}-{run[-1]}"


def _cost(run: list[int]) -> int:
    return len(_range(run)) + 1  # with its comma


def decode_progress(metadata: str | None) -> set[int]:
    """The offsets ``encode_progress`` wrote; anything unreadable decodes to no offsets."""
    if not metadata or not metadata.startswith(_PROGRESS_PREFIX):
        return set()
    out: set[int] = set()
    for part in metadata.removeprefix(_PROGRESS_PREFIX).split(","):
        match = _RANGE.fullmatch(part)
        if match is None:
            return set()
        low = int(match[1])
        out.update(range(low, int(match[2] or low) + 1))
    return out


# -- reading ------------------------------------------------------------------------------------------------

def _letter(rec: Record) -> DeadLetter:
    headers = {k: (v or b"").decode("utf-8", "replace") for k, v in rec.headers}
    return DeadLetter(rec.partition, rec.offset, rec.key, rec.value, headers)


def _reader(kafka_config: Mapping[str, str], group_id: str, timeout: float) -> EndReader:
    return EndReader(kafka_config, group_id, error=ConfigError, timeout=timeout)


def _partitions(reader: EndReader, topic: str) -> list[int]:
    partitions = reader.partitions(topic)
    if not partitions:
        raise ConfigError(f"DLQ topic {topic} does not exist")
    return partitions


def _read_range(reader: EndReader, topic: str, bounds: Mapping[int, tuple[int, int]]) -> Iterator[DeadLetter]:
    """Letters of ``topic`` from each partition's start offset up to (excluding) its end offset."""
    starts = {p: start for p, (start, _) in bounds.items()}
    for rec in reader.read(topic, starts, ends={p: end for p, (_, end) in bounds.items()}, batch=500):
        yield _letter(rec)


def read_dead_letters(kafka_config: Mapping[str, str], topic: str, timeout: float = 30.0) -> list[DeadLetter]:
    """Every letter on the DLQ topic, read once to the end offsets seen at start, without a consumer group."""
    with _reader(kafka_config, f"tikstream-dlq-scan-{uuid.uuid4().hex}", timeout) as reader:
        partitions = _partitions(reader, topic)
        return [_letter(rec) for rec in reader.read(topic, dict.fromkeys(partitions), batch=500)]


# -- replay -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Selection:
    job: str | None
    error_classes: frozenset[str]

    def wants(self, letter: DeadLetter) -> bool:
        if self.job is not None and letter.job != self.job:
            return False
        return not self.error_classes or letter.error_class in self.error_classes


def replay_dead_letters(
    kafka_config: Mapping[str, str], dlq_topic: str, group_id: str, *, job: str | None = None,
    error_classes: Iterable[str] = (), dry_run: bool = False, timeout: float = 60.0,
) -> ReplayReport:
    """Replay the letters selected by ``job`` and ``error_classes`` that no earlier replay handled.

    Raises ``ConfigError`` when the DLQ topic is missing, Kafka cannot be reached, or a replayed record is not
    acknowledged (nothing is committed then, so the next run replays those letters again).
    """
    selection = _Selection(job, frozenset(error_classes))
    report = ReplayReport(dry_run=dry_run)
    sender = None if dry_run else _Sender(kafka_config)
    with _reader(kafka_config, replay_group(group_id), timeout) as reader:
        plans = _plans(reader, dlq_topic)
        commits = _replay_all(reader, sender, dlq_topic, plans, selection, report)
        if sender is not None:
            sender.flush(timeout)
            if commits:
                _commit(reader, commits, report)
    return report


@dataclass(slots=True)
class _Plan:
    """One DLQ partition: the range to read, and the handled letters above the first unhandled one."""

    start: int
    end: int
    prior: set[int]  # replayed by earlier runs (from the commit metadata)
    first_unhandled: int | None = None
    ranges: list[list[int]] = field(default_factory=list)
    chars: int = len(_PROGRESS_PREFIX)
    full: bool = False

    def __post_init__(self) -> None:
        self.chars += len(encode_progress(self.prior))  # room for the earlier runs' ranges (an upper bound)

    def unhandled(self, offset: int) -> None:
        if self.first_unhandled is None:
            self.first_unhandled = offset

    def handled(self, offset: int) -> None:
        if self.first_unhandled is None:
            return  # the committed offset moves past it
        if self.ranges and self.ranges[-1][1] == offset - 1:
            self.chars -= _cost(self.ranges[-1])
            self.ranges[-1][1] = offset
        else:
            self.ranges.append([offset, offset])
        self.chars += _cost(self.ranges[-1])

    def room(self, offset: int) -> bool:
        """Whether handling ``offset`` keeps the metadata within ``MAX_PROGRESS_CHARS``."""
        return self.first_unhandled is None or self.chars + 2 * len(str(offset)) + 2 <= MAX_PROGRESS_CHARS

    def commit(self) -> Committed:
        ranges = ",".join(_range([low, high]) for low, high in self.ranges)
        offset = self.end if self.first_unhandled is None else self.first_unhandled
        return Committed(offset, _PROGRESS_PREFIX + ranges if ranges else None)


def _commit(reader: EndReader, commits: dict[Partition, Committed], report: ReplayReport) -> None:
    try:
        reader.commit(commits)
    except ConfigError as exc:
        raise ConfigError(f"replayed {report.replayed_total} letter(s) but could not record the progress ({exc}); "
                          "a next replay may replay them again") from exc


class _Sender:
    """Produces replayed records and collects delivery failures."""

    def __init__(self, kafka_config: Mapping[str, str]) -> None:
        self._producer = TrackedProducer(kafka_config, {"enable.idempotence": True, "linger.ms": 20})
        self._failures: list[str] = []

    def send(self, topic: str, letter: DeadLetter, origin: str) -> None:
        produce_waiting(self._producer, topic, letter.key, letter.value,
                        headers=[("replayed_from", origin.encode())], on_delivery=self._delivered)

    def _delivered(self, delivery: Delivery) -> None:
        if delivery.error is not None:
            self._failures.append(f"{delivery.topic}: {delivery.error}")

    def flush(self, timeout: float) -> None:
        remaining = self._producer.flush(timeout)
        if remaining or self._failures:
            detail = "; ".join(self._failures[:3]) or f"{remaining} not acknowledged"
            raise ConfigError(f"replay not acknowledged by Kafka ({detail}); nothing committed, run it again")


def _plans(reader: EndReader, topic: str) -> dict[int, _Plan]:
    committed = reader.committed([(topic, p) for p in _partitions(reader, topic)])
    plans = {}
    for (_, partition), done in sorted(committed.items()):
        low, high = reader.watermarks(topic, partition)
        start = low if done.offset is None else max(done.offset, low)
        plans[partition] = _Plan(start, high, {o for o in decode_progress(done.metadata) if o >= start})
    return plans


def _replay_all(reader: EndReader, sender: _Sender | None, topic: str, plans: dict[int, _Plan],
                selection: _Selection, report: ReplayReport) -> dict[Partition, Committed]:
    bounds = {p: (plan.start, plan.end) for p, plan in plans.items()}
    for letter in _read_range(reader, topic, bounds):
        report.scanned += 1
        _handle(letter, plans[letter.partition], sender, topic, selection, report)
    return {(topic, p): plan.commit() for p, plan in sorted(plans.items()) if plan.start < plan.end}


def _handle(letter: DeadLetter, plan: _Plan, sender: _Sender | None, topic: str, selection: _Selection,
            report: ReplayReport) -> None:
    offset = letter.offset
    wanted = selection.wants(letter)
    report.selected += wanted
    if offset in plan.prior:
        report.already_replayed += 1
        plan.handled(offset)
    elif not wanted:
        report.left_for_later += 1
        plan.unhandled(offset)
    elif plan.full or not plan.room(offset):
        plan.full = True
        report.deferred += 1
        plan.unhandled(offset)
    elif not letter.replayable:
        report.unreplayable += 1
        plan.handled(offset)
    else:
        source = letter.source_topic or ""
        report.replayed[(source, letter.job or "-")] += 1
        plan.handled(offset)
        if sender is not None:
            sender.send(source, letter, f"{topic}/{letter.partition}/{offset}")
