"""What a new version of a job may not change from the version it replaces.

An audience job's ``delivery`` picks the kind of TikTok audience behind it (a customer-file audience or a
segment audience) and the audience id is kept per job, so a job cannot switch delivery: its state and its
queued operations belong to the other kind. Such a version is rejected (the registry keeps the previous one
running; ``jobs apply`` publishes nothing) with a message that says how to do it instead.
"""

from __future__ import annotations

from tikstream.errors import FieldError
from tikstream.jobs.models import AudienceExportJob, Job

__all__ = ["change_errors"]


def change_errors(previous: Job, job: Job) -> list[FieldError]:
    """Why ``job`` may not replace ``previous`` (same id); empty when it may."""
    if isinstance(previous, AudienceExportJob) and isinstance(job, AudienceExportJob) \
            and previous.delivery != job.delivery:
        return [FieldError("delivery", f"{job.delivery!r} cannot replace {previous.delivery!r} of the running "
                                       f"version: a job keeps its delivery; apply it under a new job id")]
    return []
