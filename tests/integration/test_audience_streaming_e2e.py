"""Streaming audiences end to end (``delivery: streaming``): real Kafka, the emulator over sockets, tikstream
instances as processes.

The same traffic as the file-mode test (``test_audience_e2e``): 20,000 users enter, 5,000 of them exit,
1,000 of those enter again. The emulator must end with exactly the expected members in exactly one segment
audience, fed only through ``/segment/mapping/``: with one instance, and with two, one of them SIGKILLed
mid-run and a third started.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import produce
from emulator_proc import admin_url
from test_audience_e2e import audiences, feed, make_env, phases, start, stop_all, wait_members


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
