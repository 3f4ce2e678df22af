"""Job configs: the models (one per job type), their field tables, parsing and serialisation.

``models`` holds the models and ``parse_job``; ``fields`` and ``types`` the vocabulary; ``targets`` the TikTok
fields a mapping can fill and the kind of value each takes; ``sources`` the two shapes of a mapping entry (record
path → field, or field → source) and their validation; ``maps`` the pydantic types of the maps;
``field_errors`` the wording of every validation error.
"""

from __future__ import annotations

from tikstream.jobs.loading import load_job_file
from tikstream.jobs.models import (
    JOB_ADAPTER,
    JOB_MODELS,
    AnyJob,
    AppEventsJob,
    AudienceExportJob,
    CrmEventsJob,
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
    "CrmEventsJob",
    "EventsJob",
    "Job",
    "OfflineEventsJob",
    "WebEventsJob",
    "job_to_json",
    "load_job_file",
    "parse_job",
]
