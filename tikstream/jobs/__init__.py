"""Job configs: the models (one per job type), their field tables, parsing and serialisation."""

from __future__ import annotations

from tikstream.jobs.loading import load_job_file
from tikstream.jobs.models import (
    JOB_ADAPTER,
    JOB_MODELS,
    AnyJob,
    AppEventsJob,
    AudienceExportJob,
    EventsJob,
    Job,
    OfflineEventsJob,
    WebEventsJob,
    job_to_json,
    parse_job,
)

__all__ = [
    "JOB_ADAPTER",
    "JOB_MODELS",
    "AnyJob",
    "AppEventsJob",
    "AudienceExportJob",
    "EventsJob",
    "Job",
    "OfflineEventsJob",
    "WebEventsJob",
    "job_to_json",
    "load_job_file",
    "parse_job",
]
