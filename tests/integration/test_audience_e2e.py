"""Audience export end to end: real Kafka, the emulator over sockets, tikstream instances as processes.

20,000 users enter, 5,000 of them exit, 1,000 of those enter again, over several flushes: the emulator must
end with exactly the expected members in exactly one audience, with one instance, with two started at once, and
with one killed by SIGKILL mid-run and started again.
"""

from __future__ import annotations

import hashlib
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
import pytest
from conftest import produce
from emulator_proc import admin_url

from tikstream.kafka.config_topic import publish

ADVERTISER = "7000000000000000000"


def email_hash(i: int) -> str:
    return hashlib.sha256(f"user{i}@example.com".encode()).hexdigest()


def trigger(i: int, event: str) -> tuple[bytes, bytes]:
    doc = {"audience": "vip", "event": event, "user_id": f"u-{i}", "ts": int(time.time()),
           "user": {"email": f"User{i}@Example.com "}}
    return f"u-{i}".encode(), orjson.dumps(doc)


def phases() -> list[list[tuple[bytes, bytes]]]:
    enters = [trigger(i, "enter") for i in range(20_000)]
    exits = [trigger(i, "exit") for i in range(5_000)]
    again = [trigger(i, "enter") for i in range(1_000)]
    return [enters[:10_000], enters[10_000:], exits, again]


EXPECTED = {email_hash(i) for i in range(20_000) if i < 1_000 or i >= 5_000}


@pytest.fixture
def env(kafka_config: dict[str, str], new_topic: Any, emulator: str, tmp_path: Path) -> dict[str, str]:
    return make_env(kafka_config, new_topic, emulator, tmp_path, flush_interval_seconds=2)


def make_env(kafka_config: dict[str, str], new_topic: Any, emulator: str, tmp_path: Path,
             **job_fields: Any) -> dict[str, str]:
    """Topics, the job ``vip-tt`` (with ``job_fields``) on the config topic, an auth file: the environment of
    ``start``."""
    triggers = new_topic(4, "triggers")
    config = new_topic(1, "jobs", {"cleanup.policy": "compact"})
    dlq = new_topic(1, "dlq")
    job = {"id": "vip-tt", "type": "audience_export", "auth": "main", "audience": "vip",
           "advertiser_id": ADVERTISER, "identifiers": {"user.email": "EMAIL_SHA256"},
           "created_at": "2020-01-01T00:00:00Z", **job_fields}
    publish(kafka_config, config, [("vip-tt", orjson.dumps(job))])
    auth = tmp_path / "auth.json"
    auth.write_text(orjson.dumps({"authorizations": {"main": {
        "kind": "tiktok_signin", "access_token": "tok", "app_id": "app", "secret": "s"}}}).decode())
    return {"TIKSTREAM_BOOTSTRAP_SERVERS": kafka_config["bootstrap.servers"], "TIKSTREAM_TRIGGER_TOPICS": triggers,
            "TIKSTREAM_CONFIG_TOPIC": config, "TIKSTREAM_DLQ_TOPIC": dlq,
            "TIKSTREAM_GROUP_ID": f"g-{uuid.uuid4().hex[:8]}", "TIKSTREAM_AUTH_FILE": str(auth),
            "TIKSTREAM_TIKTOK_BASE_URL": emulator, "TIKSTREAM_HTTP_PORT": "0"}


def start(env: dict[str, str], tmp: Path) -> subprocess.Popen[bytes]:
    state = tmp / f"state-{uuid.uuid4().hex[:6]}"
    err = (tmp / f"{state.name}.stderr").open("wb")
    code = "import sys; from tikstream.cli import main; sys.exit(main(['run']))"
    return subprocess.Popen([sys.executable, "-c", code],
                            env={**os.environ, **env, "TIKSTREAM_STATE_DIR": str(state)},
                            stdout=subprocess.DEVNULL, stderr=err)


def audiences(base: str) -> list[dict[str, Any]]:
    state = httpx.get(admin_url(base, "state"), params={"members": "1"}, timeout=10).json()
    return list(state["audiences"])


def wait_members(base: str, timeout: float = 120.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = audiences(base)
        if len(found) == 1 and set(found[0]["members"]) == EXPECTED:
            return found
        time.sleep(1)
    sizes = [(a["name"], a["members_count"]) for a in found]
    raise AssertionError(f"audiences did not converge: {sizes}")


def feed(kafka_config: dict[str, str], topic: str, pause: float = 3.0) -> None:
    for phase in phases():
        produce(kafka_config, topic, phase)
        time.sleep(pause)  # past the flush interval: each phase its own flush


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()


def test_one_instance(kafka_config: dict[str, str], env: dict[str, str], emulator: str, tmp_path: Path) -> None:
    procs = [start(env, tmp_path)]
    try:
        feed(kafka_config, env["TIKSTREAM_TRIGGER_TOPICS"])
        found = wait_members(emulator)
        assert found[0]["name"].startswith("tikstream vip ")
        assert found[0]["calculate_type"] == "EMAIL_SHA256"
    finally:
        stop_all(procs)


def test_two_instances_started_at_once(kafka_config: dict[str, str], env: dict[str, str], emulator: str,
                                       tmp_path: Path) -> None:
    procs = [start(env, tmp_path), start(env, tmp_path)]
    try:
        feed(kafka_config, env["TIKSTREAM_TRIGGER_TOPICS"])
        wait_members(emulator)
        time.sleep(3)
        assert len(audiences(emulator)) == 1
    finally:
        stop_all(procs)


def test_instance_killed_mid_run_and_restarted(kafka_config: dict[str, str], env: dict[str, str], emulator: str,
                                               tmp_path: Path) -> None:
    first, second = start(env, tmp_path), start(env, tmp_path)
    procs = [first, second]
    try:
        batches = phases()
        produce(kafka_config, env["TIKSTREAM_TRIGGER_TOPICS"], batches[0])
        time.sleep(4)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        for phase in batches[1:3]:
            produce(kafka_config, env["TIKSTREAM_TRIGGER_TOPICS"], phase)
            time.sleep(3)
        procs.append(start(env, tmp_path))
        produce(kafka_config, env["TIKSTREAM_TRIGGER_TOPICS"], batches[3])
        wait_members(emulator, timeout=180)
    finally:
        stop_all(procs)
