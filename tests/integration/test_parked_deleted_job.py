"""Parked records of a deleted job (docs/architecture.md §2, ``tikstream.sinks.events.deleted``): real Kafka, and
for the end-to-end case the real App and the emulator over sockets.

A paused events job parks its records; once the job is deleted they go to the DLQ with
``error_class=job_deleted``, are tombstoned, and the job's parked reader group commits past them. Only a job
the registry has *seen deleted* is swept: not one it does not know yet, nor one created again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from conftest import produce, running_app
from emulator_proc import admin_url, running_emulator
from instances import wait_for
from prometheus_client import CollectorRegistry

from tikstream.jobs.registry import ConfigRecord, JobRegistry
from tikstream.kafka.config_topic import publish
from tikstream.kafka.reader import EndReader
from tikstream.metrics import Metrics
from tikstream.settings import Settings
from tikstream.sinks.events.deleted import DeletedJobSweep
from tikstream.sinks.events.parking import KafkaParking
from tikstream.supervise import Supervisor

PIXEL = "C4ABCDEF"
JOB = {"id": "web-gone", "type": "web_events", "auth": "pixel", "audiences": ["aud_a"], "triggers": ["enter"],
       "pixel_code": PIXEL, "event_name": "Purchase", "page_url_field": "user.page",
       "identifiers": {"user.email": "email", "user_id": "external_id"}, "created_at": "2020-01-01T00:00:00Z"}


def trigger(i: int) -> bytes:
    return orjson.dumps({"audience": "aud_a", "event": "enter", "user_id": f"u-{i}", "ts": 1_800_000_000 + i,
                         "user": {"email": f"u{i}@example.com", "page": "https://shop.example/p"}})


def read_all(kafka: dict[str, str], topic: str) -> list[Any]:
    with EndReader(kafka, f"check-{uuid.uuid4().hex[:8]}", error=AssertionError) as reader:
        return list(reader.read(topic, dict.fromkeys(reader.partitions(topic))))


def live_parked(kafka: dict[str, str], topic: str, job_id: str) -> set[bytes]:
    """Keys of the job's parked records whose latest value is not a tombstone."""
    live: dict[bytes, bool] = {}
    for rec in read_all(kafka, topic):
        if (rec.key or b"").startswith(f"{job_id}/".encode()):
            live[rec.key] = rec.value is not None
    return {k for k, v in live.items() if v}


def committed_past(kafka: dict[str, str], topic: str, group: str, job_id: str) -> bool:
    """The job's reader group committed past every record the job parked (tombstones come later)."""
    last: dict[int, int] = {}
    for rec in read_all(kafka, topic):
        if rec.value is not None and (rec.key or b"").startswith(f"{job_id}/".encode()):
            last[rec.partition] = max(last.get(rec.partition, -1), rec.offset)
    with EndReader(kafka, group, error=AssertionError) as reader:
        committed = reader.committed([(topic, p) for p in last])
    return all((committed[(topic, p)].offset or 0) > offset for p, offset in last.items())


def dead_letters(kafka: dict[str, str], dlq: str) -> list[Any]:
    return [r for r in read_all(kafka, dlq) if dict(r.headers).get("error_class") == b"job_deleted"]


def test_a_deleted_paused_job_s_parked_records_go_to_the_dlq_and_are_committed(
        kafka_config: dict[str, str], new_topic: Callable[..., str], tmp_path: Path) -> None:
    tokens = {"authorizations": {"pixel": {"kind": "events_token", "access_token": "tok-1", "pixel_code": PIXEL}}}
    auth_path = tmp_path / "auth.json"
    auth_path.write_bytes(orjson.dumps(tokens))
    triggers, config = new_topic(3, "triggers"), new_topic(1, "jobs", {"cleanup.policy": "compact"})
    dlq, group = new_topic(1, "dlq"), f"g-{uuid.uuid4().hex[:8]}"
    publish(kafka_config, config, [(JOB["id"], orjson.dumps(JOB))])
    with running_emulator("--tokens", str(auth_path), "--seed", "7") as base:
        settings = Settings(bootstrap_servers=kafka_config["bootstrap.servers"], trigger_topics=(triggers,),
                            config_topic=config, dlq_topic=dlq, group_id=group, tiktok_base_url=base,
                            auth_file=auth_path, http_port=0, state_dir=tmp_path / "state")
        httpx.post(admin_url(base, "tokens"), json={"revoke": ["tok-1"]}, timeout=10).raise_for_status()
        with running_app(settings, base, auth_path) as app:
            values = [trigger(i) for i in range(300)]
            produce(kafka_config, triggers, [(f"u-{i}".encode(), v) for i, v in enumerate(values)])
            parked = f"{group}.parked"

            def all_parked() -> bool:
                running = app.sinks.running().get(JOB["id"])
                return running is not None and running[1].status()["parked"] >= 300 and not running[1].pending()

            wait_for(all_parked, 90, "the paused job to park its records")
            assert len(live_parked(kafka_config, parked, JOB["id"])) == 300
            assert dead_letters(kafka_config, dlq) == []  # paused, not deleted: the records wait
            publish(kafka_config, config, [(JOB["id"], None)])
            wait_for(lambda: len(dead_letters(kafka_config, dlq)) >= 300, 90, "the parked records in the DLQ")
            wait_for(lambda: not live_parked(kafka_config, parked, JOB["id"]), 30, "the parked records tombstoned")
            wait_for(lambda: committed_past(kafka_config, parked, f"{parked}.{JOB['id']}", JOB["id"]), 30,
                     "the job's parked reader to commit")
            assert app.metrics.registry.get_sample_value("tikstream_dlq_records_total",
                                                         {"reason": "job_deleted"}) == 300
        letters = dead_letters(kafka_config, dlq)
        assert sorted(r.value for r in letters) == sorted(values)  # each trigger, unchanged, exactly once
        headers = dict(letters[0].headers)
        assert headers["job"] == JOB["id"].encode() and headers["source_topic"] == triggers.encode()
        state = httpx.get(admin_url(base, "state"), timeout=10).json()
        assert state["events"]["received"] == 0  # nothing was sent for the deleted job


def _sweep_env(kafka: dict[str, str], new_topic: Callable[..., str]) -> tuple[str, str, Metrics, Supervisor]:
    parked, dlq = new_topic(3, "parked", {"cleanup.policy": "compact"}), new_topic(1, "dlq")
    metrics = Metrics(CollectorRegistry())
    supervisor = Supervisor(metrics.thread_failures_total)
    parking = KafkaParking(kafka, parked, "job-x", supervisor)
    for i in range(20):
        headers = [("job", b"job-x"), ("source_topic", b"trig"), ("source_partition", b"0"),
                   ("source_offset", str(i).encode())]
        parking.park(f"job-x/trig/0/{i}".encode(), trigger(i), headers, i, lambda _t: None)
    assert parking.flush(30)
    parking.close()
    return parked, dlq, metrics, supervisor


def _run(sweep: DeletedJobSweep, registry: JobRegistry, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sweep.sync(registry.deleted, registry.is_deleted, set())
        sweep.poll(registry.is_deleted)
        if not sweep.active and registry.is_deleted("job-x"):
            return
        time.sleep(0.05)


def test_only_a_job_the_caught_up_registry_saw_deleted_is_swept(kafka_config: dict[str, str],
                                                               new_topic: Callable[..., str]) -> None:
    parked, dlq, metrics, supervisor = _sweep_env(kafka_config, new_topic)
    registry = JobRegistry(metrics)
    sweep = DeletedJobSweep(kafka_config, parked, dlq, metrics, supervisor)
    try:
        # the registry is still reading: a tombstone seen so far may be followed by a new version
        registry.apply(ConfigRecord("job-x", None, 0, 0))
        sweep.sync(registry.deleted, registry.is_deleted, set())
        assert sweep.active == []
        # caught up, and the job was created again after its tombstone: not deleted
        registry.apply(ConfigRecord("job-x", orjson.dumps({**JOB, "id": "job-x"}), 0, 1))
        registry.caught_up = True
        _run(sweep, registry, 3)
        assert sweep.active == [] and live_parked(kafka_config, parked, "job-x") != set()
        # a sink of the job still retiring here: wait for it
        registry.apply(ConfigRecord("job-x", None, 0, 2))
        sweep.sync(registry.deleted, registry.is_deleted, {"job-x"})
        assert sweep.active == []
        _run(sweep, registry, 60)
        assert sweep.active == []
        assert len(dead_letters(kafka_config, dlq)) == 20
        assert live_parked(kafka_config, parked, "job-x") == set()
        _run(sweep, registry, 2)  # swept once per tombstone: nothing more
        assert len(dead_letters(kafka_config, dlq)) == 20
    finally:
        sweep.close()


def test_a_job_created_again_stops_its_sweep(kafka_config: dict[str, str], new_topic: Callable[..., str]) -> None:
    parked, dlq, metrics, supervisor = _sweep_env(kafka_config, new_topic)
    registry = JobRegistry(metrics)
    registry.apply(ConfigRecord("job-x", None, 0, 0))
    registry.caught_up = True
    sweep = DeletedJobSweep(kafka_config, parked, dlq, metrics, supervisor)
    try:
        sweep.sync(registry.deleted, registry.is_deleted, set())
        assert sweep.active == ["job-x"]
        registry.apply(ConfigRecord("job-x", orjson.dumps({**JOB, "id": "job-x"}), 0, 1))
        _run(sweep, registry, 2)
        assert sweep.active == []
        assert dead_letters(kafka_config, dlq) == []
        assert len(live_parked(kafka_config, parked, "job-x")) == 20
    finally:
        sweep.close()
