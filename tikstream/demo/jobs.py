"""The demo's jobs: every example in ``examples/`` (one per type), checked and published to the config topic.

The examples are applied as they are, with one change: the file audience job flushes every ``flush_interval``
seconds instead of hourly, so that the audience fills while the demo watches (the streaming one sends within a
second anyway).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from tikstream.app import own_topics
from tikstream.auth import check_job_auth, load_authorizations
from tikstream.errors import ConfigError
from tikstream.jobs.loading import load_job_file
from tikstream.jobs.models import AnyJob, AudienceExportJob, job_to_json
from tikstream.kafka.admin import TopicSpec, ensure_topics
from tikstream.kafka.config_topic import publish
from tikstream.settings import Settings

__all__ = ["TRIGGER_PARTITIONS", "apply", "kafka_config", "load_examples"]

TRIGGER_PARTITIONS = 3
_ORDER = ("audience_export", "web_events", "app_events", "offline_events", "crm_events")


def kafka_config(run: Settings) -> dict[str, str]:
    """The run's Kafka settings for the demo's own clients, which log errors only: their transient warnings
    (a broker still loading its coordinator, say) would garble the progress line, and they are retried."""
    return {**run.kafka_config(), "log_level": "3"}


def load_examples(examples: Path, flush_interval: int) -> list[tuple[Path, AnyJob, str]]:
    """(file, job, what the demo changed) for every job file in ``examples``, audience job first."""
    found: list[tuple[Path, AnyJob, str]] = []
    for path in sorted([*examples.glob("*.yaml"), *examples.glob("*.yml")]):
        for job in load_job_file(path):
            note = ""
            if (isinstance(job, AudienceExportJob) and job.delivery == "file"
                    and job.flush_interval_seconds != flush_interval):
                note = f"flush_interval_seconds {job.flush_interval_seconds} -> {flush_interval} for the demo"
                job = job.model_copy(update={"flush_interval_seconds": flush_interval})
            found.append((path, job, note))
    if not found:
        raise ConfigError(f"no job files (*.yaml) in {examples}: run the demo from the repository root")
    found.sort(key=lambda f: _ORDER.index(f[1].type) if f[1].type in _ORDER else len(_ORDER))
    return found


def apply(run: Settings, examples: Path, flush_interval: int, out: TextIO) -> list[AnyJob]:
    """Create the run's topics and publish the example jobs (``created_at`` now); returns the jobs."""
    found = load_examples(examples, flush_interval)
    authorizations = load_authorizations(run.auth_file)
    errors = [f"{path}: {e}" for path, job, _ in found for e in check_job_auth(job, authorizations)]
    if errors:
        raise ConfigError("example jobs do not fit the demo auth file: " + "; ".join(errors))
    kafka = kafka_config(run)
    topics = [TopicSpec(t, TRIGGER_PARTITIONS) for t in run.trigger_topics]
    ensure_topics(kafka, [*topics, *own_topics(run)])
    now = datetime.now(UTC)
    jobs = [job.model_copy(update={"created_at": now}) for _, job, _ in found]
    publish(kafka, run.config_topic, [(job.id, job_to_json(job)) for job in jobs])
    for (path, job, note), _ in zip(found, jobs, strict=True):
        extra = f"  [{note}]" if note else ""
        print(f"applied       {job.id:<15} {job.type:<16} from {path}{extra}", file=out)
    return jobs
