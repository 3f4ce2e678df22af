"""The whole service in-process on the real broker: poison records go to the DLQ with their reasons while
valid records around them are routed to the jobs that want them; the HTTP endpoints tell the truth."""

from __future__ import annotations

import threading
import time
import urllib.request
import uuid
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer
from conftest import produce

from tikstream.app import App
from tikstream.kafka.config_topic import publish
from tikstream.settings import Settings
from tikstream.testing import RecordingSink

POISON: list[tuple[str, bytes | None]] = [
    ("invalid_json", b"{not json"),
    ("not_utf8", b'{"audience": "aud", "event": "enter", "user_id": "\xff\xfe"}'),
    ("not_object", b'[{"audience": "aud"}]'),
    ("missing_field", b'{"event": "enter", "user_id": "u"}'),
    ("missing_field", b'{"audience": "aud", "user_id": "u"}'),
    ("missing_field", b'{"audience": "aud", "event": "enter"}'),
    ("invalid_field", b'{"audience": "aud", "event": "joined", "user_id": "u"}'),
    ("too_large", b'{"audience": "aud", "event": "enter", "user_id": "u", "user": {"x": "' + b"a" * 1_100_000 + b'"}}'),
    ("null_value", None),
    ("invalid_ts", b'{"audience": "aud", "event": "enter", "user_id": "u", "ts": "next tuesday"}'),
]


def _job(job_id: str, audiences: list[str], triggers: list[str]) -> bytes:
    return orjson.dumps({
        "id": job_id, "type": "web_events", "auth": "pixel", "audiences": audiences, "triggers": triggers,
        "pixel_code": "C4ABCDEF", "event_name": "Purchase", "page_url_field": "user.page",
        "identifiers": {"user.email": "email"}, "created_at": "2020-01-01T00:00:00Z",
    })


def _valid(i: int, audience: str, event: str) -> bytes:
    return orjson.dumps({"audience": audience, "event": event, "user_id": f"u-{i}", "ts": 1_800_000_000})


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture
def service(kafka_config, new_topic):  # type: ignore[no-untyped-def]
    big = {"max.message.bytes": str(4 * 1024 * 1024)}  # the topic accepts the 1 MB poison record
    triggers = new_topic(3, "triggers", big)
    config = new_topic(1, "jobs", {"cleanup.policy": "compact"})
    dlq = new_topic(1, "dlq", big)
    publish(kafka_config, config, [("enters", _job("enters", ["aud"], ["enter"])),
                                   ("both", _job("both", ["aud", "other"], ["enter", "exit"]))])
    sinks: dict[str, RecordingSink] = {}

    def build(version: Any, ctx: Any) -> RecordingSink:
        sinks[version.job.id] = RecordingSink()
        return sinks[version.job.id]

    settings = Settings(bootstrap_servers=kafka_config["bootstrap.servers"], trigger_topics=(triggers,),
                        config_topic=config, dlq_topic=dlq, group_id=f"g-{uuid.uuid4().hex[:8]}", http_port=0)
    app = App(settings, builders={"web_events": build})
    thread = threading.Thread(target=app.run)
    thread.start()
    yield app, sinks, triggers, dlq
    app.stop.set()
    thread.join(30)
    assert not thread.is_alive()


def test_poison_records_go_to_the_dlq_and_valid_ones_are_routed(service, kafka_config) -> None:  # type: ignore[no-untyped-def]
    app, sinks, triggers, dlq = service
    records: list[tuple[bytes | None, bytes | None]] = []
    expected = {"enters": set(), "both": set()}
    for i, (_reason, value) in enumerate(POISON):
        for j, (aud, ev) in enumerate((("aud", "enter"), ("aud", "exit"), ("other", "enter"), ("nobody", "enter"))):
            n = i * 10 + j
            records.append((f"u-{n}".encode(), _valid(n, aud, ev)))
            if aud == "aud" and ev == "enter":
                expected["enters"].add(f"u-{n}")
            if aud in ("aud", "other"):
                expected["both"].add(f"u-{n}")
        records.append((f"poison-{i}".encode(), value))
    produce({**kafka_config, "message.max.bytes": str(4 * 1024 * 1024)}, triggers, records)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = {k: {t.user_id for _p, _o, t in s.received} for k, s in sinks.items()}
        if got == expected and app.processor.committed and not any(app.processor.owed()):
            break
        time.sleep(0.1)
    assert {k: {t.user_id for _p, _o, t in s.received} for k, s in sinks.items()} == expected

    letters = _read_all(kafka_config, dlq, len(POISON))
    reasons = sorted(h["error_class"] for h, _k, _v in letters)
    assert reasons == sorted(r for r, _v in POISON)
    for headers, key, value in letters:
        assert set(headers) >= {"error", "error_class", "source_topic", "source_partition", "source_offset"}
        assert headers["source_topic"] == triggers
        assert key is not None and key.startswith(b"poison-")
        original = POISON[int(key.split(b"-")[1])][1]
        assert value == original, "the DLQ keeps the original value unchanged"

    # everything was committed: poison included, nothing owed
    wait_until = time.monotonic() + 10
    while time.monotonic() < wait_until and sum(app.processor.committed.values()) < len(records):
        time.sleep(0.1)
    assert sum(app.processor.committed.values()) == len(records)

    status, body = _get(app.status.port, "/metrics")
    assert status == 200
    for reason, _v in POISON:
        assert f'tikstream_dlq_records_total{{reason="{reason}"}}'.encode() in body
    assert _get(app.status.port, "/healthz")[0] == 200
    assert _get(app.status.port, "/readyz")[0] == 200
    jobs = orjson.loads(_get(app.status.port, "/jobs")[1])["jobs"]
    assert {j["id"]: j["state"] for j in jobs} == {"both": "running", "enters": "running"}


Letter = tuple[dict[str, str], bytes | None, bytes | None]


def _read_all(kafka_config: dict[str, str], topic: str, n: int) -> list[Letter]:
    c = Consumer({**kafka_config, "group.id": f"r-{uuid.uuid4().hex}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    out = []
    deadline = time.monotonic() + 30
    try:
        while len(out) < n and time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is None or msg.error():
                continue
            headers = {k: v.decode() for k, v in (msg.headers() or [])}
            out.append((headers, msg.key(), msg.value()))
    finally:
        c.close()
    return out
