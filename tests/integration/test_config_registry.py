"""The config registry on the real broker: apply, update, invalid version, tombstone, caught-up."""

from __future__ import annotations

import threading
import time

import orjson
import pytest

from tikstream.jobs.registry import JobRegistry
from tikstream.kafka.config_topic import ConfigTopicReader, publish, read_config_topic
from tikstream.metrics import Metrics


def _web(job_id: str, **over: object) -> bytes:
    doc = {"id": job_id, "type": "web_events", "auth": "pixel", "audiences": ["aud"], "pixel_code": "C4ABCDEF",
           "event_name": "Purchase", "page_url_field": "user.page", "identifiers": {"user.email": "email"}}
    doc.update(over)
    return orjson.dumps(doc)


def _wait(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def registry(kafka_config, new_topic):  # type: ignore[no-untyped-def]
    topic = new_topic(1, "jobs", {"cleanup.policy": "compact"})
    publish(kafka_config, topic, [("early", _web("early")), ("gone", _web("gone")), ("gone", None)])
    metrics = Metrics()
    reg = JobRegistry(metrics, lambda: ConfigTopicReader(kafka_config, topic))
    stop = threading.Event()
    thread = reg.start(stop)
    yield reg, topic, metrics
    stop.set()
    thread.join(10)


def test_caught_up_only_after_reading_what_existed_at_start(registry) -> None:  # type: ignore[no-untyped-def]
    reg, _topic, _m = registry
    _wait(lambda: reg.caught_up)
    assert set(reg.jobs) == {"early"}, "a job tombstoned before start must not exist"
    assert reg.failure is None


def test_apply_update_invalid_and_tombstone_while_running(registry, kafka_config) -> None:  # type: ignore[no-untyped-def]
    reg, topic, metrics = registry
    _wait(lambda: reg.caught_up)
    publish(kafka_config, topic, [("web", _web("web", event_name="Purchase"))])
    _wait(lambda: "web" in reg.jobs)
    v1 = reg.jobs["web"]
    assert v1.job.event_name == "Purchase"

    publish(kafka_config, topic, [("web", _web("web", event_name="AddToCart"))])
    _wait(lambda: reg.jobs["web"].version != v1.version)
    v2 = reg.jobs["web"]
    assert v2.job.event_name == "AddToCart"
    assert v2.created_at == v1.created_at, "created_at survives later versions"

    publish(kafka_config, topic, [("web", _web("web", batch_max_events=5000, bogus=1))])
    _wait(lambda: "web" in reg.rejections)
    assert reg.jobs["web"] == v2, "the previous valid version keeps running"
    errors = " ".join(reg.rejections["web"].errors)
    assert "batch_max_events" in errors and "bogus" in errors
    assert metrics.config_rejected_total._value.get() == 1

    publish(kafka_config, topic, [("web", None)])
    _wait(lambda: "web" not in reg.jobs)
    assert "web" not in reg.rejections


def test_key_must_match_id(registry, kafka_config) -> None:  # type: ignore[no-untyped-def]
    reg, topic, _m = registry
    _wait(lambda: reg.caught_up)
    publish(kafka_config, topic, [("other-key", _web("web"))])
    _wait(lambda: "other-key" in reg.rejections)
    assert "other-key" not in reg.jobs and "web" not in reg.jobs


def test_read_config_topic_returns_latest_versions(registry, kafka_config) -> None:  # type: ignore[no-untyped-def]
    _reg, topic, _m = registry
    publish(kafka_config, topic, [("x", _web("x")), ("x", _web("x", label="two"))])
    latest = read_config_topic(kafka_config, topic)
    assert set(latest) == {"early", "x"}
    assert orjson.loads(latest["x"].value or b"")["label"] == "two"
