"""``{group_id}.audience-ops`` keeps pending operations without expiry and loses nothing when the writers
group's committed offsets are gone or older than the data (docs/architecture.md §2): real Kafka, the real
``WriterService`` and ``JobWriter``, the emulator over sockets.

- applied operations are deleted below the writers' commit, so the partition's log start offset is a durable
  "applied up to": a group whose offsets expired, or were reset below the data, starts there and applies the
  pending operations once, without applying the old ones again (their files are gone by then);
- a topic created before with a finite retention gets retention -1 at start;
- the pending operations of a deleted job are dropped and committed; those of a job merely not running wait.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]
from emulator_proc import admin_url, running_emulator
from instances import wait_for
from prometheus_client import CollectorRegistry

from tikstream.kafka.reader import EndReader
from tikstream.metrics import Metrics
from tikstream.sinks.audience.ops import Op, UploadedFile
from tikstream.sinks.audience.service import TikTokAudienceApi, WriterService
from tikstream.sinks.audience.state import AudienceKafka, ops_partition
from tikstream.sinks.audience.writer import JobWriter
from tikstream.supervise import Supervisor
from tikstream.tiktok.client import TikTokClient
from tikstream.tiktok.retry import RetryPolicy

TOKEN, ADVERTISER = "demo-signin-token", "7000000000000000000"
TOKENS = {"authorizations": {"main": {"kind": "tiktok_signin", "access_token": TOKEN, "app_id": "1",
                                      "secret": "s"}}}


def sha(i: int) -> str:
    return hashlib.sha256(f"u{i}@example.com".encode()).hexdigest()


@dataclass
class Env:
    kafka: dict[str, str]
    group: str
    base: str
    client: TikTokClient

    def audience_kafka(self) -> AudienceKafka:
        return AudienceKafka(self.kafka, self.group, timeout=20)

    def op(self, kafka: AudienceKafka, job_id: str, action: str, users: range) -> Op:
        """Upload one file of ``users`` (and store its content), then append the operation to the ops topic."""
        data = "".join(f"{sha(i)}\n" for i in users).encode()
        name = f"{uuid.uuid4().hex[:8]}.csv"
        path = self.client.upload_audience_file(TOKEN, ADVERTISER, "EMAIL_SHA256", data, name)
        ref = kafka.store_file(name, data)
        op = Op(job_id, uuid.uuid4().hex[:8], action, "EMAIL_SHA256", ADVERTISER,
                (UploadedFile(path, name, ref),), len(users), time.time())
        kafka.put_op(job_id, op.to_bytes())
        return op

    def state(self) -> Any:
        return httpx.get(admin_url(self.base, "state") + "?members=1", timeout=30).json()

    def audience(self, part: str) -> dict[str, Any] | None:
        found = [a for a in self.state()["audiences"] if part in a["name"]]
        assert len(found) <= 1
        return found[0] if found else None


@pytest.fixture
def env(kafka_config: dict[str, str], tmp_path: Any) -> Iterator[Env]:
    tokens = tmp_path / "tokens.json"
    tokens.write_bytes(orjson.dumps(TOKENS))
    retry = RetryPolicy(max_attempts=4, base_seconds=0.1, cap_seconds=0.5, max_total_seconds=10)
    with running_emulator("--tokens", str(tokens), "--audience-ready-seconds", "0.5", "--min-audience-size", "0",
                          "--file-ttl-seconds", "30") as base, TikTokClient(base, retry=retry) as client:
        yield Env(kafka_config, f"ops-{uuid.uuid4().hex[:8]}", base, client)


def start_service(env: Env, kafka: AudienceKafka, jobs: list[str],
                  is_deleted: Callable[[str], bool] = lambda j: False) -> WriterService:
    service = WriterService(kafka, is_deleted=is_deleted)
    for job_id in jobs:
        def factory(on_applied: Callable[[list[Op]], None], job_id: str = job_id) -> JobWriter:
            def api() -> TikTokAudienceApi:
                return TikTokAudienceApi(env.client, TOKEN, ADVERTISER, None)
            return JobWriter(job_id, "t", f"aud_{job_id}", api, service.store(), on_applied)
        service.register(job_id, factory)
    service.start(Supervisor(Metrics(CollectorRegistry()).thread_failures_total))
    return service


def positions(env: Env, kafka: AudienceKafka, partition: int) -> tuple[int, int | None]:
    """(log start offset, the writers group's committed offset) of an ops partition."""
    with EndReader(env.kafka, kafka.topics.writers_group, error=AssertionError) as reader:
        low, _high = reader.watermarks(kafka.topics.ops, partition)
        committed = reader.committed([(kafka.topics.ops, partition)])[(kafka.topics.ops, partition)].offset
    return low, committed


def lose_commits(env: Env, kafka: AudienceKafka, how: str, partition: int) -> None:
    if how == "expired":  # offsets.retention.minutes passed with the group empty: Kafka forgets them
        admin = AdminClient(env.kafka)
        for fut in admin.delete_consumer_groups([kafka.topics.writers_group], request_timeout=30).values():
            fut.result(30)
    else:  # reset below the log start offset: older than the data still held
        c = Consumer({**env.kafka, "group.id": kafka.topics.writers_group, "enable.auto.commit": False})
        c.commit(offsets=[TopicPartition(kafka.topics.ops, partition, 0)], asynchronous=False)
        c.close()


@pytest.mark.parametrize("how", ["expired", "reset-below-the-data"])
def test_lost_commits_neither_lose_nor_replay_operations(env: Env, how: str) -> None:
    kafka = env.audience_kafka()
    p = ops_partition("job-a", kafka.ops_partitions)
    env.op(kafka, "job-a", "APPEND", range(10))
    env.op(kafka, "job-a", "REMOVE", range(5))
    service = start_service(env, kafka, ["job-a"])
    try:
        wait_for(lambda: (a := env.audience("aud_job-a")) is not None and len(a["history"]) == 2
                 and a["members"] == sorted(sha(i) for i in range(5, 10)), 60, "the two operations applied")
        wait_for(lambda: positions(env, kafka, p) == (2, 2), 30, "commit and clean-up of the ops partition")
    finally:
        service.stop()
    lose_commits(env, kafka, how, p)
    httpx.post(admin_url(env.base, "clock"), json={"advance_seconds": 60}, timeout=10)  # old file paths expire
    env.op(kafka, "job-a", "APPEND", range(2))  # pending while no writer runs
    service = start_service(env, kafka, ["job-a"])
    try:
        wait_for(lambda: (a := env.audience("aud_job-a")) is not None and len(a["history"]) >= 3, 60,
                 "the pending operation applied")
        time.sleep(2)  # a replay of the old operations would show here
        audience = env.audience("aud_job-a")
        assert audience is not None
        assert [h["action"] for h in audience["history"]] == ["CREATE", "REMOVE", "APPEND"]
        assert audience["members"] == sorted(sha(i) for i in (0, 1, 5, 6, 7, 8, 9))
        wait_for(lambda: positions(env, kafka, p) == (3, 3), 30, "the new operation committed and cleaned up")
    finally:
        service.stop()
        kafka.close()


def test_files_of_applied_operations_are_tombstoned_after_the_clean_up(env: Env) -> None:
    kafka = env.audience_kafka()
    op = env.op(kafka, "job-f", "APPEND", range(3))
    ref = op.files[0].ref
    assert ref is not None and kafka.read_file(ref)
    service = start_service(env, kafka, ["job-f"])
    try:
        p = ops_partition("job-f", kafka.ops_partitions)
        wait_for(lambda: positions(env, kafka, p) == (1, 1), 60, "applied, committed and cleaned up")

        def tombstoned() -> bool:
            with EndReader(env.kafka, f"chk-{uuid.uuid4().hex[:6]}", error=AssertionError) as reader:
                recs = list(reader.read(kafka.topics.files, {ref.partition: ref.offset}))
            return any(r.key == f"{ref.file_id}:0".encode() and r.value is None for r in recs)

        wait_for(tombstoned, 30, "the file content tombstoned")
    finally:
        service.stop()
        kafka.close()


def test_an_old_ops_topic_gets_unlimited_retention_at_start(env: Env) -> None:
    topic = f"{env.group}.audience-ops"
    admin = AdminClient(env.kafka)
    admin.create_topics([NewTopic(topic, 6, 1, config={"retention.ms": "600000"})])[topic].result(30)
    kafka = env.audience_kafka()
    try:
        resource = ConfigResource("TOPIC", topic)

        def unlimited() -> bool:  # the broker applies a change through its metadata log: shortly after
            config = admin.describe_configs([resource])[resource].result(30)
            return bool(config["retention.ms"].value == "-1" and config["retention.bytes"].value == "-1")

        wait_for(unlimited, 10, "retention -1 on the old ops topic")
    finally:
        kafka.close()


def test_a_deleted_job_s_operations_are_dropped_and_a_stopped_job_s_wait(env: Env) -> None:
    kafka = env.audience_kafka()
    # two jobs on one partition: the first deleted, the second merely not running here
    jobs = [f"job-{i}" for i in range(200)]
    p = ops_partition("job-gone", kafka.ops_partitions)
    waiting = next(j for j in jobs if ops_partition(j, kafka.ops_partitions) == p)
    live = next(j for j in jobs if ops_partition(j, kafka.ops_partitions) == p and j != waiting)
    env.op(kafka, "job-gone", "APPEND", range(3))
    env.op(kafka, live, "APPEND", range(3))
    service = start_service(env, kafka, [live], is_deleted=lambda j: j == "job-gone")
    try:
        wait_for(lambda: positions(env, kafka, p) == (2, 2), 60, "the deleted job's operation dropped")
        assert env.audience("aud_job-gone") is None and env.audience(f"aud_{live}") is not None
        env.op(kafka, waiting, "APPEND", range(3))
        env.op(kafka, live, "REMOVE", range(1))
        wait_for(lambda: len((env.audience(f"aud_{live}") or {}).get("history", [])) == 2, 60, "the live job")
        time.sleep(2)
        assert positions(env, kafka, p) == (2, 2)  # the waiting job's operation holds the commit
    finally:
        service.stop()
        kafka.close()
