"""The ``/jobs`` report (and ``tikstream jobs status``'s source): every job with its version, state and errors.

A job's ``state`` is ``disabled``, ``starting`` (no sink yet), ``running``, ``paused`` (its sink says so, for
example an events job whose token was revoked), ``unavailable`` (its sink could not be built here; its
records go to the DLQ) or ``rejected`` (no valid version at all). A sink with a ``status()`` method adds its
own fields; an audience's own state is reported as ``audience_state``. Nothing here carries a secret: jobs
name authorizations, never tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tikstream.jobs.registry import JobRegistry, JobVersion
from tikstream.sinks.base import Sink

__all__ = ["jobs_report"]


def jobs_report(registry: JobRegistry,
                running: Mapping[str, tuple[JobVersion, Sink, str | None]]) -> list[dict[str, Any]]:
    """One entry per job of ``registry``, then one per job whose every version was rejected."""
    out = []
    for job_id, version in sorted(registry.jobs.items()):
        entry: dict[str, Any] = {"id": job_id, "type": version.job.type, "version": version.version,
                                 "created_at": version.created_at, "enabled": version.job.enabled}
        run = running.get(job_id)
        if not version.job.enabled:
            entry["state"] = "disabled"
        elif run is None:
            entry["state"] = "starting"
        else:
            entry["state"] = "unavailable" if run[2] else "running"
            entry["last_error"] = run[2]
            sink_status = getattr(run[1], "status", None)
            if callable(sink_status):
                details = dict(sink_status())
                if "state" in details:  # the sink's own state (an audience's), not the job's
                    details["audience_state"] = details.pop("state")
                entry.update(details)
                if details.get("paused"):
                    entry["state"] = "paused"
        rejection = registry.rejections.get(job_id)
        if rejection is not None:
            entry["rejected_version"] = {"version": rejection.version, "errors": list(rejection.errors)}
        out.append(entry)
    for job_id, rejection in sorted(registry.rejections.items()):
        if job_id not in registry.jobs:
            out.append({"id": job_id, "state": "rejected", "version": rejection.version,
                        "last_error": "; ".join(rejection.errors)})
    return out
