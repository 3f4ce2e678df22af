"""Streaming audiences end to end (``delivery: streaming``): real Kafka, the emulator over sockets, tikstream
instances as processes.

The same traffic as the file-mode test (``test_audience_e2e``): 20,000 users enter, 5,000 of them exit,
1,000 of those enter again. The emulator must end with exactly the expected members in exactly one segment
audience, fed only through ``/segment/mapping/``: with one instance, and with two, one of them SIGKILLed
mid-run and a third started.
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from conftest import produce
from emulator_proc import admin_url
from instances import wait_for
from test_audience_e2e import (
    audiences,
    email_hash,
    feed,
    make_env,
    phases,
    start,
    stop_all,
    trigger,
    wait_members,
)

from tikstream.kafka.config_topic import publish


@pytest.fixture
def env(kafka_config: dict[str, str], new_topic: Any, emulator: str, tmp_path: Path) -> dict[str, str]:
    return make_env(kafka_config, new_topic, emulator, tmp_path, delivery="streaming")


def requests_by_path(base: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in httpx.get(admin_url(base, "requests"), timeout=10).json()["requests"]:
        counts[r["path"]] = counts.get(r["path"], 0) + 1
    return counts


def test_one_instance(kafka_config: dict[str, str], env: dict[str, str], emulator: str, tmp_path: Path) -> None:
    procs = [start(env, tmp_path)]
    try:
        feed(kafka_config, env["TIKSTREAM_TRIGGER_TOPICS"], pause=1.0)
        (found,) = wait_members(emulator)
        assert found["kind"] == "segment" and found["name"].startswith("tikstream vip ")
        paths = requests_by_path(emulator)
        assert paths.get("/open_api/v1.3/segment/audience/") == 1
        assert paths.get("/open_api/v1.3/segment/mapping/", 0) >= 26  # at most 1,000 rows a request
        assert not any("custom_audience" in p for p in paths)
    finally:
        stop_all(procs)


def test_two_instances_one_killed_mid_run(kafka_config: dict[str, str], env: dict[str, str], emulator: str,
                                         tmp_path: Path) -> None:
    first, second = start(env, tmp_path), start(env, tmp_path)
    procs = [first, second]
    topic = env["TIKSTREAM_TRIGGER_TOPICS"]
    try:
        batches = phases()
        produce(kafka_config, topic, batches[0])
        time.sleep(2)
        first.kill()
        first.wait(30)
        for phase in batches[1:3]:
            produce(kafka_config, topic, phase)
            time.sleep(1)
        procs.append(start(env, tmp_path))
        produce(kafka_config, topic, batches[3])
        wait_members(emulator, timeout=180)
        time.sleep(2)
        assert len(audiences(emulator)) == 1
    finally:
        stop_all(procs)


def test_a_file_job_waiting_on_its_audience_does_not_hold_a_streaming_job(
        kafka_config: dict[str, str], env: dict[str, str], emulator: str, tmp_path: Path) -> None:
    """A file job whose audience stays processing shares the streaming job's ops partition: its pending APPEND
    blocks the writers group's commits there, yet the streaming job's triggers are accepted and committed."""
    file_job = next(f"file-{i}" for i in range(100) if zlib.crc32(f"file-{i}".encode()) % 6
                    == zlib.crc32(b"vip-tt") % 6)
    job = {"id": file_job, "type": "audience_export", "auth": "main", "audience": "other",
           "advertiser_id": "7000000000000000000", "identifiers": {"user.email": "EMAIL_SHA256"},
           "flush_interval_seconds": 1, "created_at": "2020-01-01T00:00:00Z"}
    publish(kafka_config, env["TIKSTREAM_CONFIG_TOPIC"], [(file_job, orjson.dumps(job))])
    httpx.post(admin_url(emulator, "settings"), json={"audience_ready_seconds": 3600}, timeout=10)
    topic = env["TIKSTREAM_TRIGGER_TOPICS"]
    other = [(f"o-{i}".encode(), orjson.dumps({"audience": "other", "event": "enter", "user_id": f"o-{i}",
                                                "user": {"email": f"o{i}@example.com"}})) for i in range(20)]
    procs = [start(env, tmp_path)]
    try:
        produce(kafka_config, topic, other[:10])  # creates the file audience: processing for an hour
        wait_for(lambda: len(audiences(emulator)) == 1, 60, "the file audience")
        produce(kafka_config, topic, other[10:])  # its APPEND now waits at the head of the shared partition
        time.sleep(3)
        produce(kafka_config, topic, [trigger(i, "enter") for i in range(500)])
        wanted = {email_hash(i) for i in range(500)}
        wait_for(lambda: any(set(a.get("members", [])) == wanted for a in audiences(emulator)), 60,
                 "the streamed members")
        wait_for(lambda: committed(kafka_config, env["TIKSTREAM_GROUP_ID"], topic) == ends(kafka_config, topic), 60,
                 "every trigger committed, the file job's included (stored in Kafka)", poll=1.0)
    finally:
        stop_all(procs)


def committed(kafka_config: dict[str, str], group: str, topic: str) -> list[int]:
    consumer = Consumer({**kafka_config, "group.id": group, "enable.auto.commit": False})
    try:
        return [tp.offset for tp in consumer.committed([TopicPartition(topic, p) for p in range(4)], timeout=10)]
    finally:
        consumer.close()


def ends(kafka_config: dict[str, str], topic: str) -> list[int]:
    consumer = Consumer({**kafka_config, "group.id": "ends", "enable.auto.commit": False})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(4)]
    finally:
        consumer.close()


def test_the_preview_shows_exactly_the_bodies_a_real_run_sends(kafka_config: dict[str, str], new_topic: Any,
                                                               emulator: str, tmp_path: Path) -> None:
    """``preview_streaming`` (what ``jobs preview`` calls) over the triggers of a one-partition topic, against
    the ``/segment/mapping/`` bodies the emulator accepted from a real run: the same, in the same order."""
    from tikstream.jobs.models import AudienceExportJob
    from tikstream.records import decode
    from tikstream.sinks.audience.preview import preview_streaming

    fields = {"delivery": "streaming", "stream_batch_max": 40, "stream_linger_ms": 3000}
    env = make_env(kafka_config, new_topic, emulator, tmp_path, **fields)
    env["TIKSTREAM_TRIGGER_TOPICS"] = topic = new_topic(1, "one")  # one partition: the order of the file
    records = ([trigger(i, "enter") for i in range(100)] + [trigger(i, "exit") for i in range(0, 100, 3)]
               + [trigger(i, "enter") for i in range(0, 30, 6)])
    job = AudienceExportJob(id="vip-tt", type="audience_export", auth="main", audience="vip",
                            advertiser_id="7000000000000000000", identifiers={"user.email": "EMAIL_SHA256"},
                            **fields)
    procs = [start(env, tmp_path)]
    try:
        produce(kafka_config, topic, records)
        wait_for(lambda: len(audiences(emulator)) == 1, 60, "the segment audience")
        audience_id = audiences(emulator)[0]["id"]
        preview = preview_streaming(job, [(str(n), decode(value, None)) for n, (_, value) in enumerate(records)],
                                    audience_id=audience_id)
        wanted = [r["body"] for r in preview.requests]

        def sent() -> list[Any]:
            state = httpx.get(admin_url(emulator, "state"), params={"mappings": "1"}, timeout=10).json()
            return list(state["mappings"])

        wait_for(lambda: len(sent()) >= len(wanted), 60, "the requests", poll=1.0)
        assert len(wanted) >= 4 and sent() == wanted
    finally:
        stop_all(procs)
