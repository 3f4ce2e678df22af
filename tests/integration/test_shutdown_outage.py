"""Shutdown during a TikTok outage: the emulator answers 500 to everything, ``tikstream run`` gets SIGTERM.

It must exit 0 within 15 s and commit only what TikTok accepted (nothing, here). A restart after the outage
delivers every event, once per trigger.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from confluent_kafka import Consumer, TopicPartition
from conftest import produce
from emulator_proc import admin_url

from tikstream.kafka.config_topic import publish

PIXEL = "C4ABCDEF"
N = 300


def _committed(kafka_config: dict[str, str], group: str, topic: str) -> list[int]:
    consumer = Consumer({**kafka_config, "group.id": group, "enable.auto.commit": False})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(2)], timeout=10)
        return [tp.offset for tp in tps]
    finally:
        consumer.close()


def _accepted(emulator: str) -> int:
    state = httpx.get(admin_url(emulator, "state"), params={"events": "1", "event_source_id": PIXEL},
                      timeout=10).json()
    return len({e["event_id"] for e in state["events"].get("list", [])})


def _requests(emulator: str) -> int:
    return len(httpx.get(admin_url(emulator, "requests"), timeout=10).json().get("requests", []))


def _start(env: dict[str, str], tmp: Path) -> subprocess.Popen[bytes]:
    err = (tmp / f"run-{uuid.uuid4().hex[:6]}.stderr").open("wb")
    code = "import sys; from tikstream.cli import main; sys.exit(main(['run']))"
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=err)


def test_sigterm_during_an_outage_exits_fast_commits_nothing_unsent_and_a_restart_delivers(
        kafka_config: dict[str, str], new_topic: Any, emulator: str, tmp_path: Path) -> None:
    triggers = new_topic(2, "triggers")
    config = new_topic(1, "jobs", {"cleanup.policy": "compact"})
    job = {"id": "outage-web", "type": "web_events", "auth": "main", "audiences": ["vip"], "pixel_code": PIXEL,
           "event_name": "Purchase", "page_url_field": "user.page", "identifiers": {"user.email": "email"},
           "linger_ms": 100,
           "created_at": "2020-01-01T00:00:00Z"}
    publish(kafka_config, config, [(job["id"], orjson.dumps(job))])
    auth = tmp_path / "auth.json"
    auth.write_text(orjson.dumps({"authorizations": {"main": {"kind": "events_token",
                                                               "access_token": "tok"}}}).decode())
    group = f"g-{uuid.uuid4().hex[:8]}"
    env = {"TIKSTREAM_BOOTSTRAP_SERVERS": kafka_config["bootstrap.servers"], "TIKSTREAM_TRIGGER_TOPICS": triggers,
           "TIKSTREAM_CONFIG_TOPIC": config, "TIKSTREAM_DLQ_TOPIC": new_topic(1, "dlq"), "TIKSTREAM_GROUP_ID": group,
           "TIKSTREAM_AUTH_FILE": str(auth), "TIKSTREAM_TIKTOK_BASE_URL": emulator, "TIKSTREAM_HTTP_PORT": "0",
           "TIKSTREAM_STATE_DIR": str(tmp_path / "state")}
    httpx.post(admin_url(emulator, "faults"), json={"error_rate": 1.0}, timeout=10).raise_for_status()
    produce(kafka_config, triggers, [(f"u-{i}".encode(), orjson.dumps(
        {"audience": "vip", "event": "enter", "user_id": f"u-{i}", "ts": 1_800_000_000 + i,
         "user": {"email": f"u{i}@example.com", "page": "https://shop.example/x"}})) for i in range(N)])
    proc = _start(env, tmp_path)
    try:
        deadline = time.monotonic() + 60
        while _requests(emulator) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _requests(emulator) >= 3, "tikstream never tried to send"
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
        took = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == 0
    assert took <= 15.0, f"took {took:.1f} s to stop"
    assert _accepted(emulator) == 0
    committed = _committed(kafka_config, group, triggers)
    assert all(offset < 0 or offset == 0 for offset in committed), f"committed past unsent events: {committed}"
    # the outage ends; a new run delivers everything
    httpx.post(admin_url(emulator, "faults"), json={"error_rate": 0.0}, timeout=10).raise_for_status()
    proc = _start(env, tmp_path)
    try:
        deadline = time.monotonic() + 90
        while _accepted(emulator) < N and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _accepted(emulator) == N
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    print(f"stopped {took:.1f} s after SIGTERM during the outage")
