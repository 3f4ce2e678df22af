"""`tikstream jobs ...` as a user runs it, against the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tikstream.errors import ConfigError
from tikstream.kafka.config_topic import read_config_topic as _read


def read_config_topic(kafka_config: dict[str, str], topic: str) -> dict[str, object]:
    """What is published; a config topic that was never created holds nothing."""
    try:
        return _read(kafka_config, topic)  # type: ignore[return-value]
    except ConfigError as exc:
        assert "does not exist" in str(exc)
        return {}

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture
def cli(kafka_config: dict[str, str], new_topic: Callable[..., str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    topic = f"jobs-{os.urandom(4).hex()}"  # created by `jobs apply` itself, compacted
    env = {**os.environ, "TIKSTREAM_BOOTSTRAP_SERVERS": kafka_config["bootstrap.servers"],
           "TIKSTREAM_CONFIG_TOPIC": topic, "TIKSTREAM_DLQ_TOPIC": f"dlq-{topic}",
           "TIKSTREAM_AUTH_FILE": str(EXAMPLES / "auth.json")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tikstream.cli", *args], env=env, capture_output=True,
                              text=True, timeout=60)

    run.topic = topic  # type: ignore[attr-defined]
    return run


def test_apply_publishes_all_valid_files_and_keeps_created_at(cli, kafka_config) -> None:  # type: ignore[no-untyped-def]
    files = sorted(EXAMPLES.glob("*.yaml"))
    result = cli("jobs", "apply", *[a for f in files for a in ("-f", str(f))])
    assert result.returncode == 0, result.stderr
    first = {k: orjson.loads(r.value or b"") for k, r in _read(kafka_config, cli.topic).items()}
    assert len(first) == len(files)
    assert all(doc["created_at"] for doc in first.values())

    again = cli("jobs", "apply", "-f", str(EXAMPLES / "web-events.yaml"))
    assert again.returncode == 0, again.stderr
    second = {k: orjson.loads(r.value or b"") for k, r in _read(kafka_config, cli.topic).items()}
    assert second == first, "re-applying the same job keeps its created_at"

    listed = cli("jobs", "list")
    assert listed.returncode == 0 and all(job_id in listed.stdout for job_id in first)


def test_one_invalid_file_publishes_nothing(cli, kafka_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "bad", "type": "web_events", "auth": "pixel-token", "audiences": ["a"], '
                   '"pixel_code": "C4ABCDEF", "event_name": "Purchase", "page_url_field": "user.page", '
                   '"identifiers": {"user.email": "email"}, "batch_max_events": 5000}')
    result = cli("jobs", "apply", "-f", str(EXAMPLES / "web-events.yaml"), "-f", str(bad))
    assert result.returncode == 1
    assert "batch_max_events" in result.stderr and "nothing published" in result.stderr
    assert read_config_topic(kafka_config, cli.topic) == {}


def test_missing_or_wrong_kind_authorization_is_refused(cli, kafka_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = (EXAMPLES / "audience-export.yaml").read_text()
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(text.replace("auth: tiktok-main", "auth: pixel-token"))
    missing = tmp_path / "missing.yaml"
    missing.write_text(text.replace("auth: tiktok-main", "auth: no-such-auth"))
    for path in (wrong, missing):
        result = cli("jobs", "apply", "-f", str(path))
        assert result.returncode == 1, result.stdout
        assert "auth" in result.stderr
    assert read_config_topic(kafka_config, cli.topic) == {}


def test_validate_reports_every_error_with_its_field_path(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "Bad Id", "type": "web_events", "auth": "pixel-token", "audiences": [], '
                   '"pixel_code": "C4ABCDEF", "event_name": "Purchase", "page_url_field": "user.page", '
                   '"identifiers": {"user.email": "emial"}, "batch_max_events": 0, "colour": "red"}')
    result = cli("jobs", "validate", "-f", str(bad))
    assert result.returncode == 1
    for path in ("id", "audiences", "identifiers.user.email", "batch_max_events", "colour"):
        assert path in result.stderr, f"{path} missing from: {result.stderr}"


def test_delete_tombstones_and_unknown_job_is_an_error(cli, kafka_config) -> None:  # type: ignore[no-untyped-def]
    assert cli("jobs", "apply", "-f", str(EXAMPLES / "web-events.yaml")).returncode == 0
    assert cli("jobs", "delete", "web-purchase").returncode == 0
    assert read_config_topic(kafka_config, cli.topic) == {}
    unknown = cli("jobs", "delete", "web-purchase")
    assert unknown.returncode == 1 and "unknown job" in unknown.stderr


def test_apply_refuses_to_switch_a_jobs_delivery(cli, kafka_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert cli("jobs", "apply", "-f", str(EXAMPLES / "audience-export.yaml")).returncode == 0
    before = {k: r.value for k, r in _read(kafka_config, cli.topic).items()}
    doc = orjson.loads(next(iter(before.values())) or b"")
    for key in ("flush_interval_minutes", "flush_max_users", "flush_max_bytes", "retention_in_days", "created_at"):
        doc.pop(key, None)
    switched = tmp_path / "switched.json"
    switched.write_bytes(orjson.dumps({**doc, "delivery": "streaming"}))
    result = cli("jobs", "apply", "-f", str(switched))
    assert result.returncode == 1
    assert f"invalid: {doc['id']}: delivery: 'streaming' cannot replace 'file' of the running version" \
        in result.stderr and "nothing published" in result.stderr
    assert {k: r.value for k, r in _read(kafka_config, cli.topic).items()} == before
