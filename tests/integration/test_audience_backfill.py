"""``existing_users`` end to end: real Kafka, the emulator over sockets, ``tikstream run`` as a process.

100,000 users enter audience ``bf`` while no job watches it; the trigger topic is then emptied
(``delete_records``), so only the membership table remembers them. An ``existing_users: true`` job is applied
with ``tikstream jobs apply``: the emulator's audience must end with exactly those members, with the backfill's
progress in ``/jobs`` and ``/metrics``, whether the job delivers by files or streams (``/segment/mapping/``).
Then an exit without a profile removes one of them, and a new enter
adds a user, through the job's own batches.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from conftest import produce
from emulator_proc import admin_url

ADVERTISER = "7000000000000000000"
USERS = 100_000
BUDGET_SECONDS = 90.0
DELIVERIES = [pytest.param({"flush_interval_seconds": 2}, id="file"),
              pytest.param({"delivery": "streaming"}, id="streaming")]


def email_hash(i: int) -> str:
    return hashlib.sha256(f"user{i}@example.com".encode()).hexdigest()


def enter(i: int) -> tuple[bytes, bytes]:
    doc = {"audience": "bf", "event": "enter", "user_id": f"u-{i}", "ts": int(time.time()),
           "user": {"email": f" User{i}@Example.com"}}
    return f"u-{i}".encode(), orjson.dumps(doc)


def exit_with_profile(i: int) -> tuple[bytes, bytes]:
    doc = {"audience": "bf", "event": "exit", "user_id": f"u-{i}", "ts": int(time.time()),
           "user": {"email": f"user{i}@example.com"}}
    return f"u-{i}".encode(), orjson.dumps(doc)


def exit_without_profile(i: int) -> tuple[bytes, bytes]:
    doc = {"audience": "bf", "event": "exit", "user_id": f"u-{i}", "ts": int(time.time())}
    return f"u-{i}".encode(), orjson.dumps(doc)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def env(kafka_config: dict[str, str], new_topic: Any, emulator: str, tmp_path: Path) -> dict[str, str]:
    auth = tmp_path / "auth.json"
    auth.write_text(orjson.dumps({"authorizations": {"main": {
        "kind": "tiktok_signin", "access_token": "tok", "app_id": "app", "secret": "s"}}}).decode())
    return {"TIKSTREAM_BOOTSTRAP_SERVERS": kafka_config["bootstrap.servers"],
            "TIKSTREAM_TRIGGER_TOPICS": new_topic(4, "triggers"),
            "TIKSTREAM_CONFIG_TOPIC": new_topic(1, "jobs", {"cleanup.policy": "compact"}),
            "TIKSTREAM_DLQ_TOPIC": new_topic(1, "dlq"), "TIKSTREAM_GROUP_ID": f"g-{uuid.uuid4().hex[:8]}",
            "TIKSTREAM_AUTH_FILE": str(auth), "TIKSTREAM_TIKTOK_BASE_URL": emulator,
            "TIKSTREAM_HTTP_PORT": str(free_port()), "TIKSTREAM_STATE_DIR": str(tmp_path / "state")}


def start(env: dict[str, str], tmp: Path) -> subprocess.Popen[bytes]:
    code = "import sys; from tikstream.cli import main; sys.exit(main(['run']))"
    err = tmp / f"run-{uuid.uuid4().hex[:6]}.stderr"
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=err.open("wb"))


def apply_job(env: dict[str, str], tmp: Path, delivery: dict[str, Any]) -> None:
    job = {"id": "bf-tt", "type": "audience_export", "auth": "main", "audience": "bf",
           "advertiser_id": ADVERTISER, "identifiers": {"user.email": "EMAIL_SHA256"},
           "existing_users": True, **delivery}
    path = tmp / "job.json"
    path.write_bytes(orjson.dumps(job))
    done = subprocess.run([sys.executable, "-m", "tikstream.cli", "jobs", "apply", "-f", str(path)],
                          env={**os.environ, **env}, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()


def committed_to_end(kafka_config: dict[str, str], group: str, topic: str, timeout: float = 120.0) -> list[int]:
    """Wait until the group committed every trigger (every membership write was acknowledged); the ends."""
    consumer = Consumer({**kafka_config, "group.id": group, "enable.auto.commit": False})
    try:
        tps = [TopicPartition(topic, p) for p in range(4)]
        ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [tp.offset for tp in consumer.committed(tps, timeout=10)]
            if got == ends:
                return ends
            time.sleep(0.5)
        raise AssertionError(f"triggers not committed: {got} of {ends}")
    finally:
        consumer.close()


def empty_trigger_topic(kafka_config: dict[str, str], topic: str, ends: list[int]) -> None:
    admin = AdminClient(dict(kafka_config))
    futures = admin.delete_records([TopicPartition(topic, p, end) for p, end in enumerate(ends)])
    for fut in futures.values():
        fut.result(30)


def members(base: str) -> list[dict[str, Any]]:
    state = httpx.get(admin_url(base, "state"), params={"members": "1"}, timeout=30).json()
    return list(state["audiences"])


def job_status(port: str) -> dict[str, Any]:
    """The job's entry in ``/jobs`` ({} while the instance is not up yet)."""
    try:
        jobs = httpx.get(f"http://127.0.0.1:{port}/jobs", timeout=5).json()["jobs"]
    except httpx.HTTPError:
        return {}
    return next((j for j in jobs if j["id"] == "bf-tt"), {})


def metric(port: str, name: str, **labels: str) -> float | None:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"tikstream_{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return None


def wait_audience(base: str, port: str, expected: set[str], timeout: float,
                  seen: list[dict[str, Any]]) -> float:
    """Wait until the only audience has exactly ``expected``; records the backfill states seen on the way."""
    t0 = time.monotonic()
    found: list[dict[str, Any]] = []
    while time.monotonic() - t0 < timeout:
        backfill = job_status(port).get("backfill")
        if backfill and (not seen or seen[-1] != backfill):
            seen.append(backfill)
        found = members(base)
        if len(found) == 1 and set(found[0]["members"]) == expected:
            return time.monotonic() - t0
        time.sleep(1)
    raise AssertionError(f"audience did not converge: {[(a['name'], a['members_count']) for a in found]}; "
                         f"backfill seen: {seen[-3:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_existing_users_backfill_then_exit_without_profile(kafka_config: dict[str, str], env: dict[str, str],
                                                           emulator: str, tmp_path: Path,
                                                           delivery: dict[str, Any]) -> None:
    port, topic = env["TIKSTREAM_HTTP_PORT"], env["TIKSTREAM_TRIGGER_TOPICS"]
    proc = start(env, tmp_path)
    try:
        produce(kafka_config, topic, (enter(i) for i in range(USERS)))
        ends = committed_to_end(kafka_config, env["TIKSTREAM_GROUP_ID"], topic)
        empty_trigger_topic(kafka_config, topic, ends)  # only the membership table remembers them now
        assert members(emulator) == []

        seen: list[dict[str, Any]] = []
        t0 = time.monotonic()
        apply_job(env, tmp_path, delivery)
        took = wait_audience(emulator, port, {email_hash(i) for i in range(USERS)}, 180.0, seen)
        took = time.monotonic() - t0
        print(f"\nbackfill of {USERS} users: {took:.1f}s from jobs apply to the emulator; states seen: {seen}")
        assert took < BUDGET_SECONDS, f"backfill took {took:.1f}s"

        deadline = time.monotonic() + 30
        while not (job_status(port).get("backfill") or {}).get("done") and time.monotonic() < deadline:
            time.sleep(0.5)
        backfill = job_status(port)["backfill"]
        assert backfill["done"] is True
        assert backfill["scanned"] == USERS and backfill["users"] == USERS and backfill["sent"] == USERS
        assert metric(port, "backfill_users_total", job="bf-tt", stage="scanned") == USERS
        assert metric(port, "backfill_users_total", job="bf-tt", stage="sent") == USERS
        assert any(s["state"] in ("waiting", "scanning", "uploading", "applying") for s in seen)

        produce(kafka_config, topic, [exit_without_profile(7), enter(USERS)])
        expected = {email_hash(i) for i in range(USERS + 1) if i != 7}
        wait_audience(emulator, port, expected, 60.0, [])
        status = job_status(port)
        assert status["exits_resolved"] == 1 and status["exits_unresolved"] == 0
        deadline = time.monotonic() + 15  # counts reach the registry every few seconds
        while metric(port, "identifier_values_total", job="bf-tt", field="EMAIL_SHA256", outcome="missing") != 1:
            assert time.monotonic() < deadline, "identifier outcomes not counted"
            time.sleep(0.5)
        assert metric(port, "identifier_values_total", job="bf-tt", field="EMAIL_SHA256", outcome="hashed") == 1
        assert len(members(emulator)) == 1
    finally:
        stop(proc)


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_instance_killed_during_the_backfill(kafka_config: dict[str, str], env: dict[str, str], emulator: str,
                                             tmp_path: Path, delivery: dict[str, Any]) -> None:
    """SIGKILL while the backfill runs; the restarted instance backfills again: exactly the members, one
    audience."""
    port, topic, n = env["TIKSTREAM_HTTP_PORT"], env["TIKSTREAM_TRIGGER_TOPICS"], 20_000
    first = start(env, tmp_path)
    procs = [first]
    try:
        produce(kafka_config, topic, (enter(i) for i in range(n)))
        committed_to_end(kafka_config, env["TIKSTREAM_GROUP_ID"], topic)
        apply_job(env, tmp_path, delivery)
        deadline, state = time.monotonic() + 60, None
        while time.monotonic() < deadline and state not in ("scanning", "uploading", "applying", "done"):
            state = job_status(port).get("backfill", {}).get("state")
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        print(f"\nkilled with the backfill {state}")
        first.wait(30)
        procs.append(start(env, tmp_path))
        wait_audience(emulator, port, {email_hash(i) for i in range(n)}, 120.0, [])
        time.sleep(3)
        assert len(members(emulator)) == 1
    finally:
        for p in procs:
            stop(p)


@pytest.mark.parametrize("delivery", DELIVERIES)
def test_backfill_with_the_jobs_own_triggers_in_flight(kafka_config: dict[str, str], env: dict[str, str],
                                                       emulator: str, tmp_path: Path,
                                                       delivery: dict[str, Any]) -> None:
    """Regression: every trigger is produced before the instance starts, some before the ``existing_users``
    job was created (the audience's members: the backfill's), some after (the job's own: exits of earlier
    members, new enters). A streaming job's own triggers are committed only once its writer sent them, and the
    writer sends nothing of the job before the backfill: the backfill must not wait for them (one that did
    never ended). The audience ends with exactly the expected members, whatever the delivery."""
    port, topic, before, later = env["TIKSTREAM_HTTP_PORT"], env["TIKSTREAM_TRIGGER_TOPICS"], 3_000, 500
    produce(kafka_config, topic, (enter(i) for i in range(before)))
    apply_job(env, tmp_path, delivery)
    time.sleep(0.01)  # the job's own triggers are stamped after its created_at
    produce(kafka_config, topic, [*(exit_with_profile(i) for i in range(later)),
                                  *(enter(i) for i in range(before, before + later))])
    proc = start(env, tmp_path)
    try:
        expected = {email_hash(i) for i in range(later, before + later)}
        seen: list[dict[str, Any]] = []
        wait_audience(emulator, port, expected, 120.0, seen)
        deadline = time.monotonic() + 30
        while not (job_status(port).get("backfill") or {}).get("done") and time.monotonic() < deadline:
            time.sleep(0.5)
        backfill = job_status(port)["backfill"]
        assert backfill["done"] is True and backfill["users"] <= before
        committed_to_end(kafka_config, env["TIKSTREAM_GROUP_ID"], topic, 60.0)  # the job's triggers are done
        assert [set(a["members"]) for a in members(emulator)] == [expected]
    finally:
        stop(proc)


def test_membership_reader_on_kafka(kafka_config: dict[str, str], new_topic: Any) -> None:
    """The reader and producer against the real broker: one audience's records in log order, with their
    timestamps and tombstones; the recording progress of a consumer group."""
    from tikstream.kafka.admin import ensure_topics
    from tikstream.sinks.audience.members_topic import (
        MembershipProducer,
        MembershipReader,
        member_key,
        members_topic_spec,
    )

    group, triggers = f"g-{uuid.uuid4().hex[:8]}", new_topic(2, "triggers")
    ensure_topics(kafka_config, [members_topic_spec(group)])
    producer = MembershipProducer(kafka_config, group)
    producer.start()
    acks: list[Any] = []
    writes = [("vip", "a", b"1", 1_000), ("other", "a", b"x", 2_000), ("vip", "b", b"2", 3_000),
              ("vip", "a", None, 4_000), ("vip", "a\x00odd", b"3", 5_000)]
    for audience, user, value, ts in writes:
        assert producer.produce(producer.partition_of(audience), member_key(audience, user), value, ts,
                                lambda delivery: acks.append(delivery.error))
    assert producer.flush(30) == 0 and acks == [None] * len(writes)
    reader = MembershipReader(kafka_config, group, [triggers])
    got = [(m.user_id, m.value, m.timestamp_ms) for m in reader.scan("vip")]
    assert got == [("a", b"1", 1_000), ("b", b"2", 3_000), ("a", None, 4_000), ("a\x00odd", b"3", 5_000)]
    assert list(reader.scan("nobody")) == [] or all(m.user_id for m in reader.scan("nobody"))

    stamped = Producer(dict(kafka_config))
    for stamp in (1_000, 2_000, 3_000):
        stamped.produce(triggers, key=b"k", value=b"v", partition=1, timestamp=stamp)
    assert stamped.flush(30) == 0
    assert reader.trigger_offsets(1.9995) == {(triggers, 0): 0, (triggers, 1): 1}  # the first stamped >= 2 s
    assert reader.trigger_offsets(0.0) == {(triggers, 0): 0, (triggers, 1): 0}
    ends = reader.trigger_offsets(9.0)  # nothing stamped that late: the end offsets
    assert ends == {(triggers, 0): 0, (triggers, 1): 3}
    assert reader.recorded(ends) is False
    consumer = Consumer({**kafka_config, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(triggers, 1, 3)], asynchronous=False)
    consumer.close()
    assert reader.recorded(ends) is True
