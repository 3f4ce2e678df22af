"""A new version may not switch an audience job's delivery: the registry keeps the running version."""

from __future__ import annotations

from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from tikstream.jobs.changes import change_errors
from tikstream.jobs.models import parse_job
from tikstream.jobs.registry import ConfigRecord, JobRegistry
from tikstream.metrics import Metrics

FILE: dict[str, Any] = {"id": "aud", "type": "audience_export", "auth": "main", "audience": "vip",
                        "advertiser_id": "7000000000000000000", "identifiers": {"user.email": "EMAIL_SHA256"}}
STREAMING = {**FILE, "delivery": "streaming"}


def test_switching_delivery_is_refused_by_name() -> None:
    (error,) = change_errors(parse_job(FILE), parse_job(STREAMING))
    assert str(error) == ("delivery: 'streaming' cannot replace 'file' of the running version: a job keeps its "
                          "delivery; apply it under a new job id")
    assert change_errors(parse_job(FILE), parse_job({**FILE, "audience": "other"})) == []


def test_the_registry_rejects_the_switch_and_keeps_the_running_version() -> None:
    metrics = Metrics(CollectorRegistry())
    registry = JobRegistry(metrics)
    registry.apply(ConfigRecord("aud", orjson.dumps(FILE), 0, 1))
    registry.apply(ConfigRecord("aud", orjson.dumps(STREAMING), 0, 2))
    assert registry.jobs["aud"].version == "0:1" and registry.jobs["aud"].job.delivery == "file"  # type: ignore[union-attr]
    assert registry.rejections["aud"].errors[0].startswith("delivery: 'streaming' cannot replace 'file'")
    assert metrics.registry.get_sample_value("tikstream_config_rejected_total") == 1
    registry.apply(ConfigRecord("aud", None, 0, 3))  # deleted: a new job may take the id with either delivery
    registry.apply(ConfigRecord("aud", orjson.dumps(STREAMING), 0, 4))
    assert registry.jobs["aud"].job.delivery == "streaming"  # type: ignore[union-attr]
