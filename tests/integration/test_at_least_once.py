"""At-least-once on the real broker: kills, take-overs and rebalances lose nothing, and no commit passes
a record a sink still owes (docs/architecture.md §6)."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
from confluent_kafka import TopicPartition
from conftest import produce
from instances import Log, read_log, start, wait_for

from tikstream.kafka.config_topic import publish

N = 50_000


def _job(job_id: str, audience: str) -> bytes:
    return orjson.dumps({
        "id": job_id, "type": "web_events", "auth": "pixel", "audiences": [audience], "triggers": ["enter", "exit"],
        "pixel_code": "C4ABCDEF", "event_name": "Purchase", "page_url_field": "user.page",
        "identifiers": {"user.email": "email"}, "created_at": "2020-01-01T00:00:00Z",
    })


def _setup(kafka_config: dict[str, str], new_topic, partitions: int, n: int) -> tuple[dict[str, str], set]:  # type: ignore[no-untyped-def]
    triggers = new_topic(partitions, "triggers")
    config = new_topic(1, "jobs", {"cleanup.policy": "compact"})
    dlq = new_topic(1, "dlq")
    publish(kafka_config, config, [("job-a", _job("job-a", "aud"))])
    produce(kafka_config, triggers, (
        (f"u-{i}".encode(), orjson.dumps({"audience": "aud", "event": "enter" if i % 3 else "exit",
                                          "user_id": f"u-{i}", "ts": 1_800_000_000 + i}))
        for i in range(n)
    ))
    env = {"TIKSTREAM_BOOTSTRAP_SERVERS": kafka_config["bootstrap.servers"], "TIKSTREAM_TRIGGER_TOPICS": triggers,
           "TIKSTREAM_CONFIG_TOPIC": config, "TIKSTREAM_DLQ_TOPIC": dlq,
           "TIKSTREAM_GROUP_ID": f"g-{uuid.uuid4().hex[:8]}"}
    return env, _all_offsets(kafka_config, triggers, partitions)


def _all_offsets(kafka_config: dict[str, str], topic: str, partitions: int) -> set[tuple[str, int, int]]:
    from confluent_kafka import Consumer

    c = Consumer({**kafka_config, "group.id": "watermarks"})
    try:
        out = set()
        for p in range(partitions):
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            out.update((topic, p, o) for o in range(low, high))
        return out
    finally:
        c.close()


def _committed(kafka_config: dict[str, str], group: str, topic: str, partitions: int) -> dict[int, int]:
    from confluent_kafka import Consumer

    c = Consumer({**kafka_config, "group.id": group})
    try:
        tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        c.close()


def test_killed_consumer_loses_nothing_and_never_commits_past_owed(kafka_config, new_topic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env, expected = _setup(kafka_config, new_topic, 4, N)
    assert len(expected) == N
    first = start(tmp_path, env)
    try:
        wait_for(
            lambda: len((log := read_log(first.log)).done) >= N // 3 and log.commits > 0,
            120,
            f"first instance to finish {N // 3} and commit",
        )
    finally:
        first.kill()
    a = read_log(first.log)
    assert a.commits > 0, "the first instance should have committed something before the kill"
    second = start(tmp_path, env)
    try:
        wait_for(lambda: expected <= (a.done | read_log(second.log).done), 180, "every record done once")
    finally:
        assert second.stop() == 0, second.tail()
    b = read_log(second.log)
    assert a.violations == [] and b.violations == []
    assert expected <= a.done | b.done
    # the graceful stop committed everything the second instance finished
    committed = _committed(kafka_config, env["TIKSTREAM_GROUP_ID"], env["TIKSTREAM_TRIGGER_TOPICS"], 4)
    ends: dict[int, int] = {}
    for _t, p, o in expected:
        ends[p] = max(ends.get(p, 0), o + 1)
    assert committed == ends


def test_two_instances_share_partitions_after_rebalance(kafka_config, new_topic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env, _ = _setup(kafka_config, new_topic, 6, 10_000)
    topic = env["TIKSTREAM_TRIGGER_TOPICS"]
    one = start(tmp_path, env)
    two = None
    try:
        wait_for(lambda: len(read_log(one.log).done) >= 2_000, 120, "first instance to start working")
        two = start(tmp_path, env)
        wait_for(lambda: read_log(two.log).assigned > 0, 60, "second instance to join")  # type: ignore[union-attr]
        produce(kafka_config, topic, (
            (f"v-{i}".encode(), orjson.dumps({"audience": "aud", "event": "enter", "user_id": f"v-{i}", "ts": 1}))
            for i in range(20_000)
        ))
        expected = _all_offsets(kafka_config, topic, 6)
        wait_for(lambda: expected <= read_log(one.log).done | read_log(two.log).done,  # type: ignore[union-attr]
                 180, "every record done")
    finally:
        codes = [one.stop()] + ([two.stop()] if two else [])
    logs: list[Log] = [read_log(one.log), read_log(two.log)]  # type: ignore[union-attr]
    assert codes == [0, 0], one.tail()
    assert all(log.violations == [] for log in logs)
    assert expected <= logs[0].done | logs[1].done
    assert logs[1].done, "the second instance should have shared the work"
    assert logs[0].assigned >= 2, "the first instance went through a rebalance"
