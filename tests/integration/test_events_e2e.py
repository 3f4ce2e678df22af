"""Events jobs end to end: real Kafka, the real App (in-process, or ``tikstream run`` as processes), the
emulator over real sockets. One job of each source (web, app, offline) with enter and exit triggers and
matching and non-matching audiences; the emulator must hold exactly the expected event ids, each batch
accepted by its validation, through throttling, a revoked token and a SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from conftest import produce
from conftest import running_app as shared_running_app
from emulator_proc import admin_url, running_emulator
from instances import wait_for
from prometheus_client import CollectorRegistry

from tikstream.app import App
from tikstream.kafka.config_topic import publish
from tikstream.mapping.compile import event_id
from tikstream.metrics import Metrics
from tikstream.records import decode
from tikstream.settings import Settings
from tikstream.sinks.events.parked_topic import ParkedRecord
from tikstream.sinks.events.parking import KafkaParking
from tikstream.supervise import Supervisor

N_TRIGGERS = int(os.environ.get("EVENTS_E2E_TRIGGERS", "100000"))
PIXEL, APP_ID, EVENT_SET = "C4ABCDEF", "7123456789", "1616318632825"
TOKENS = {"web": "tok-web-1", "app": "tok-app-1", "offline": "tok-offline-1"}
JOBS: dict[str, dict[str, Any]] = {
    "web": {"id": "web-purchase", "type": "web_events", "auth": "pixel", "audiences": ["aud_a"],
            "triggers": ["enter", "exit"], "pixel_code": PIXEL, "event_name": "Purchase",
            "page_url_field": "user.page", "identifiers": {"user.email": "email", "user.phone": "phone",
                                                           "user_id": "external_id", "user.ip": "ip"},
            "properties": {"user.total": "value", "user.currency": "currency", "user.cart": "contents"}},
    "app": {"id": "app-install", "type": "app_events", "auth": "app", "audiences": ["aud_b"], "triggers": ["enter"],
            "app_id": APP_ID, "app_name": "Example", "store_app_id": "com.example.app", "event_name": "InstallApp",
            "identifiers": {"user.email": "email", "user.gaid": "gaid", "user_id": "external_id"}},
    "offline": {"id": "store-purchase", "type": "offline_events", "auth": "store", "audiences": ["aud_a", "aud_c"],
                "triggers": ["exit"], "event_set_id": EVENT_SET, "event_name": "Purchase",
                "identifiers": {"user.email": "email", "user.phone": "phone"},
                "properties": {"user.total": "value", "user.currency": "currency"}},
}
SOURCE_IDS = {"web": PIXEL, "app": APP_ID, "offline": EVENT_SET}
AUDIENCES = ("aud_a", "aud_b", "aud_c", "aud_x")  # aud_x: no job


def auth_file(tokens: dict[str, str]) -> bytes:
    return orjson.dumps({"authorizations": {
        "pixel": {"kind": "events_token", "access_token": tokens["web"], "pixel_code": PIXEL},
        "app": {"kind": "events_token", "access_token": tokens["app"], "app_id": APP_ID},
        "store": {"kind": "offline_token", "access_token": tokens["offline"], "event_set_id": EVENT_SET},
    }})


def trigger_value(i: int, salt: str = "") -> bytes:
    return orjson.dumps({
        "audience": AUDIENCES[i % 4], "event": "enter" if (i // 4) % 3 else "exit", "user_id": f"u{salt}-{i}",
        "ts": 1_800_000_000 + i,
        "user": {"email": f" User{i}@Example.com ", "phone": f"+1 (213) 373-{i % 10000:04d}", "ip": "203.0.113.7",
                 "gaid": str(uuid.UUID(int=i + 1)), "total": i % 50, "currency": "USD",
                 "cart": [{"id": i, "name": "socks", "price": 8, "quantity": 2}],
                 "page": f"https://shop.example/p/{i}"},
    })


def expected_ids(values: list[bytes]) -> dict[str, set[str]]:
    """Per source, the event ids the jobs must produce for these trigger values."""
    out: dict[str, set[str]] = {s: set() for s in JOBS}
    for value in values:
        t = decode(value, None)
        for source, job in JOBS.items():
            if t.audience in job["audiences"] and t.event in job["triggers"]:
                out[source].add(event_id(job["id"], t))
    return out


@dataclass
class Env:
    kafka: dict[str, str]
    triggers: str
    config: str
    dlq: str
    group: str
    base_url: str
    auth_path: Path
    tmp: Path

    def settings(self) -> Settings:
        return Settings(bootstrap_servers=self.kafka["bootstrap.servers"], trigger_topics=(self.triggers,),
                        config_topic=self.config, dlq_topic=self.dlq, group_id=self.group,
                        tiktok_base_url=self.base_url, auth_file=self.auth_path, http_port=0,
                        state_dir=self.tmp / "state")

    def env_vars(self) -> dict[str, str]:
        return {"TIKSTREAM_BOOTSTRAP_SERVERS": self.kafka["bootstrap.servers"],
                "TIKSTREAM_TRIGGER_TOPICS": self.triggers, "TIKSTREAM_CONFIG_TOPIC": self.config,
                "TIKSTREAM_DLQ_TOPIC": self.dlq,
                "TIKSTREAM_GROUP_ID": self.group, "TIKSTREAM_TIKTOK_BASE_URL": self.base_url,
                "TIKSTREAM_AUTH_FILE": str(self.auth_path), "TIKSTREAM_HTTP_PORT": "0",
                "TIKSTREAM_STATE_DIR": str(self.tmp / "state")}

    def admin(self, name: str, body: dict[str, Any] | None = None) -> Any:
        url = admin_url(self.base_url, name)
        response = httpx.post(url, json=body, timeout=30) if body is not None else httpx.get(url, timeout=120)
        response.raise_for_status()
        return response.json()

    def received(self, source: str) -> list[dict[str, Any]]:
        state = self.admin(f"state?events=1&event_source_id={SOURCE_IDS[source]}")
        return [e for e in state["events"]["list"] if e["source"] == source]

    def unique_ids(self, source: str) -> set[str]:
        return {e["event_id"] for e in self.received(source)}

    def produce(self, values: list[bytes]) -> None:
        produce(self.kafka, self.triggers, [(orjson.loads(v)["user_id"].encode(), v) for v in values])


@pytest.fixture
def env(kafka_config: dict[str, str], new_topic: Callable[..., str], tmp_path: Path) -> Iterator[Env]:
    auth_path = tmp_path / "auth.json"
    auth_path.write_bytes(auth_file(TOKENS))
    tokens_path = tmp_path / "emulator-tokens.json"
    tokens_path.write_bytes(auth_file(TOKENS))
    triggers, config = new_topic(3, "triggers"), new_topic(1, "jobs", {"cleanup.policy": "compact"})
    dlq = new_topic(1, "dlq")
    jobs = [(j["id"], orjson.dumps({**j, "created_at": "2020-01-01T00:00:00Z"})) for j in JOBS.values()]
    publish(kafka_config, config, jobs)
    with running_emulator("--tokens", str(tokens_path), "--max-events-kept", "5000000", "--seed", "7") as base:
        yield Env(kafka_config, triggers, config, dlq, f"g-{uuid.uuid4().hex[:8]}", base, auth_path, tmp_path)


@contextlib.contextmanager
def running_app(env: Env) -> Iterator[App]:
    with shared_running_app(env.settings(), env.base_url, env.auth_path) as app:
        yield app


def wait_delivered(env: Env, expected: dict[str, set[str]], timeout: float) -> None:
    def done() -> bool:
        return bool(env.admin("state")["events"]["unique"] >= sum(map(len, expected.values())))

    wait_for(done, timeout, "every expected event at the emulator", poll=0.5)


def assert_exactly(env: Env, expected: dict[str, set[str]]) -> None:
    for source in JOBS:
        events = env.received(source)
        ids = Counter(e["event_id"] for e in events)
        assert set(ids) == expected[source], source
        assert all(isinstance(i, str) for i in ids)
        dupes = [e for e in events if e["duplicate"]]
        assert {e["event_id"] for e in dupes} <= expected[source]  # duplicates only with the same event id


def job_status(app: App, job_id: str) -> dict[str, Any]:
    return next(j for j in app.jobs() if j["id"] == job_id)


def paused_gauge(app: App, job_id: str) -> float | None:
    return app.metrics.registry.get_sample_value("tikstream_job_paused", {"job": job_id})


# -- the tests --------------------------------------------------------------------------------------------------


def test_every_source_delivers_exactly_the_expected_events(env: Env) -> None:
    values = [trigger_value(i) for i in range(N_TRIGGERS)]
    expected = expected_ids(values)
    env.produce(values)
    started = time.monotonic()
    with running_app(env) as app:
        wait_delivered(env, expected, timeout=240)
        elapsed = time.monotonic() - started
        assert all(job_status(app, j["id"])["paused"] is False for j in JOBS.values())
        # a replayed trigger (the same record produced again) keeps its event id
        env.produce(values[:8])
        replayed = set(expected_ids(values[:8])["web"]) | expected_ids(values[:8])["app"]
        assert replayed
        wait_for(lambda: env.admin("state")["events"]["duplicates"] >= len(replayed), 60, "the replayed events")
    assert_exactly(env, expected)
    state = env.admin("state")
    outcomes = state["requests"]["/open_api/v1.3/event/track/"]
    assert set(outcomes) == {"ok"}, outcomes  # every batch passed the emulator's validation
    assert state["events"]["requests"] < sum(map(len, expected.values())) / 50  # batched, not one per event
    print(f"\n{N_TRIGGERS} triggers -> {sum(map(len, expected.values()))} events in {elapsed:.1f}s")


def test_throttling_twenty_percent_still_delivers_everything(env: Env) -> None:
    env.admin("faults", {"throttle_rate": 0.2})
    values = [trigger_value(i) for i in range(min(N_TRIGGERS, 20_000))]
    expected = expected_ids(values)
    env.produce(values)
    with running_app(env):
        wait_delivered(env, expected, timeout=240)
    assert_exactly(env, expected)
    assert env.admin("state")["requests"]["/open_api/v1.3/event/track/"].get("40100", 0) > 0


def test_a_revoked_token_pauses_only_its_job_and_a_fixed_auth_file_delivers_its_events(env: Env) -> None:
    first = [trigger_value(i) for i in range(4000)]
    with running_app(env) as app:
        env.produce(first)
        wait_delivered(env, expected_ids(first), timeout=120)
        env.admin("tokens", {"revoke": [TOKENS["web"]]})
        second = [trigger_value(i) for i in range(4000, 12_000)]
        env.produce(second)
        expected = expected_ids(first + second)
        web_job = JOBS["web"]["id"]
        wait_for(lambda: job_status(app, web_job)["paused"] is True, 60, "the web job to pause")
        assert paused_gauge(app, web_job) == 1
        assert "40105" in (job_status(app, web_job)["last_error"] or "")
        assert TOKENS["web"] not in orjson.dumps(app.jobs()).decode()
        # the other jobs keep flowing, and the paused job does not hold their commits
        wait_for(lambda: all(env.unique_ids(s) >= expected[s] for s in ("app", "offline")), 120, "app and offline")
        assert not job_status(app, JOBS["app"]["id"])["paused"]
        web_sink = app.sinks.running()[web_job][1]
        wait_for(lambda: job_status(app, web_job)["parked"] > 0 and not web_sink.pending(), 60, "parking")
        # fix: a new token TikTok accepts, written to the auth file
        new_tokens = {**TOKENS, "web": "tok-web-2"}
        env.admin("tokens", {"add": {"tok-web-2": {"kind": "events_token", "pixel_code": PIXEL}}})
        env.auth_path.write_bytes(auth_file(new_tokens))
        wait_for(lambda: env.unique_ids("web") >= expected["web"], 120, "the parked web events")
        assert paused_gauge(app, web_job) == 0
    assert_exactly(env, expected)


def test_events_tiktok_rejects_go_to_the_dlq_and_the_others_are_delivered(env: Env) -> None:
    values = [trigger_value(i) for i in range(3000)]
    bad = {40, 1204, 2804}  # aud_a and enter: only the web job maps them; a value TikTok's validation refuses
    for i in bad:
        doc = orjson.loads(values[i])
        doc["user"]["total"] = "forty-two"
        values[i] = orjson.dumps(doc)
    expected = expected_ids(values)
    bad_ids = {event_id(JOBS["web"]["id"], decode(values[i], None)) for i in bad}
    expected["web"] -= bad_ids
    env.produce(values)
    with running_app(env) as app:
        wait_delivered(env, expected, timeout=120)
        wait_for(lambda: job_status(app, JOBS["web"]["id"])["failed"] == len(bad), 60, "the rejected events")
    assert_exactly(env, expected)
    letters = read_topic(env.kafka, env.dlq, len(bad))
    assert sorted(v for _k, v, _h in letters) == sorted(values[i] for i in bad)  # the records, unchanged
    for key, value, headers in letters:
        assert headers["error_class"] == b"tiktok_rejected" and headers["job"] == b"web-purchase"
        assert headers["error"].startswith(b"40002 ") and key == orjson.loads(value)["user_id"].encode()


def read_topic(kafka: dict[str, str], topic: str, n: int) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    from confluent_kafka import Consumer

    consumer = Consumer({**kafka, "group.id": f"read-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    out: list[tuple[bytes, bytes, dict[str, bytes]]] = []
    deadline = time.monotonic() + 60
    while len(out) < n and time.monotonic() < deadline:
        for msg in consumer.consume(100, 0.5):
            if msg.error() is None:
                out.append((msg.key(), msg.value(), dict(msg.headers() or [])))  # type: ignore[arg-type]
    consumer.close()
    return out


def test_sigkill_of_one_of_two_instances_loses_nothing(env: Env) -> None:
    values = [trigger_value(i, salt="k") for i in range(min(N_TRIGGERS, 60_000))]
    expected = expected_ids(values)
    procs = [start_instance(env, n) for n in range(2)]
    try:
        env.produce(values[:20_000])
        wait_for(lambda: env.admin("state")["events"]["unique"] > 2_000, 120, "events flowing")
        producer = threading.Thread(target=env.produce, args=(values[20_000:],))
        producer.start()
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(30)
        producer.join()
        procs[0] = start_instance(env, 2)
        wait_delivered(env, expected, timeout=240)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(60)
    assert_exactly(env, expected)


def start_instance(env: Env, n: int) -> subprocess.Popen[bytes]:
    log = (env.tmp / f"instance-{n}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "tikstream.cli", "run"], env={**os.environ, **env.env_vars()},
                            stdout=subprocess.DEVNULL, stderr=log)


# -- parking on the real broker ----------------------------------------------------------------------------------


def test_parked_records_are_read_back_once_and_tombstoned(kafka_config: dict[str, str],
                                                          new_topic: Callable[..., str]) -> None:
    topic = new_topic(3, "parked", {"cleanup.policy": "compact"})
    parking = KafkaParking(kafka_config, topic, "job-a", _supervisor())
    other = KafkaParking(kafka_config, topic, "job-b", _supervisor())
    stored: list[object] = []
    for i in range(50):
        parking.park(f"job-a/t/0/{i}".encode(), trigger_value(i), [("ts_ms", b"1")], i, stored.append)
        other.park(f"job-b/t/0/{i}".encode(), trigger_value(i), [], i, lambda _t: None)
    assert parking.flush(30) and other.flush(30)
    parking.poll()
    assert sorted(stored) == list(range(50))  # type: ignore[type-var]

    reader = parking.open_reader()
    got: list[ParkedRecord] = []
    def took_30() -> bool:
        got.extend(reader.take(100))
        return len(got) >= 30

    wait_for(took_30, 60, "parked records")
    for rec in got[:30]:
        reader.done(rec.partition, rec.offset, rec.key)
        parking.forget(rec.key or b"")
    reader.close(wait=30)  # 30 done: committed; the others were handed out but not done
    assert {r.key for r in got} <= {f"job-a/t/0/{i}".encode() for i in range(50)}

    again = parking.open_reader()
    rest: list[ParkedRecord] = []
    deadline = time.monotonic() + 60
    while not again.finished and time.monotonic() < deadline:
        for rec in again.take(100):
            rest.append(rec)
            again.done(rec.partition, rec.offset, rec.key)
        time.sleep(0.05)
    assert again.finished
    keys = {r.key for r in got[:30]} | {r.key for r in rest}
    assert keys == {f"job-a/t/0/{i}".encode() for i in range(50)}
    assert not {r.key for r in got[:30]} & {r.key for r in rest}  # done records are not read again
    assert all(r.headers.get("ts_ms") == b"1" for r in rest)
    parking.close()
    other.close()


def _supervisor() -> Supervisor:
    return Supervisor(Metrics(CollectorRegistry()).thread_failures_total)
