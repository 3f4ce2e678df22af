"""The writer service's commits of applied audience operations, with a fake consumer."""

from __future__ import annotations

from typing import Any

from tikstream.sinks.audience.service import WriterService
from tikstream.sinks.audience.state import KafkaStoreError


class FakeKafka:
    ops_partitions = 6

    def forget_files(self, refs: Any) -> None:
        pass

    def delete_ops_before(self, offsets: dict[int, int]) -> dict[int, int]:
        return dict(offsets)


class FlakyConsumer:
    def __init__(self, failures: int) -> None:
        self.failures, self.commits = failures, []  # type: ignore[var-annotated]

    def commit(self, offsets: dict[int, int]) -> None:
        if self.failures:
            self.failures -= 1
            raise KafkaStoreError("ops: commit failed")
        self.commits.append(dict(offsets))


def test_a_failed_commit_is_sent_again_next_turn_and_the_thread_goes_on() -> None:
    service = WriterService(FakeKafka())  # type: ignore[arg-type]
    consumer = FlakyConsumer(failures=1)
    service._inflight = {2: {5: True, 6: True, 7: False}}
    service._commit(consumer)  # type: ignore[arg-type]  # fails: no exception leaves the thread's turn
    assert consumer.commits == []
    service._commit(consumer)  # type: ignore[arg-type]  # nothing newer applied: the same commit again
    assert consumer.commits == [{2: 7}]
    service._inflight[2][7] = True
    service._commit(consumer)  # type: ignore[arg-type]
    assert consumer.commits == [{2: 7}, {2: 8}]


def test_a_commit_waiting_to_be_sent_again_is_dropped_with_its_partition() -> None:
    service = WriterService(FakeKafka())  # type: ignore[arg-type]
    consumer = FlakyConsumer(failures=1)
    service._inflight = {2: {5: True}, 3: {9: True}}
    service._commit(consumer)  # type: ignore[arg-type]
    service._revoked([2])
    service._commit(consumer)  # type: ignore[arg-type]
    assert consumer.commits == [{3: 10}]
