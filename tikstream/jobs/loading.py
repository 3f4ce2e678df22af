"""Job files: one job, a list of jobs or several YAML documents, for ``tikstream jobs validate/apply``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import orjson
import yaml

from tikstream.errors import FieldError, JobConfigError
from tikstream.jobs.models import AnyJob, parse_job


def load_job_file(path: str | Path) -> list[AnyJob]:
    """Every job in a JSON or YAML file: one job, a list of jobs, or (YAML) several ``---`` documents.

    Raises ``JobConfigError`` with every error of every job. When the file holds more than one job, each
    path is prefixed with the job's position, e.g. ``[1].batch_max_events``.
    """
    p = Path(path)
    docs = _documents(p)
    many = len(docs) != 1
    jobs: list[AnyJob] = []
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for i, doc in enumerate(docs):
        where = f"[{i}]" if many else ""
        try:
            job = parse_job(doc) if isinstance(doc, Mapping) else _not_an_object()
        except JobConfigError as exc:
            errors.extend(FieldError(_join(where, e.path), e.message) for e in exc.errors)
            continue
        if job.id in seen:
            duplicate = f"duplicate job id {job.id!r} (also at [{seen[job.id]}])"
            errors.append(FieldError(_join(where, "id"), duplicate))
        seen.setdefault(job.id, i)
        jobs.append(job)
    if errors:
        single_id = docs[0].get("id") if not many and isinstance(docs[0], Mapping) else None
        raise JobConfigError(single_id if isinstance(single_id, str) else None, errors)
    return jobs


def _not_an_object() -> AnyJob:
    raise JobConfigError(None, [FieldError("", "a job must be an object")])


def _join(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix and path else prefix or path


def job_documents(path: str | Path) -> list[object]:
    """The documents of a job file as parsed, before validation (``JobConfigError`` when it cannot be read)."""
    return _documents(Path(path))


def _documents(p: Path) -> list[object]:
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise JobConfigError(None, [FieldError("", f"cannot read {p}: {exc.strerror or exc}")]) from None
    try:
        if p.suffix.lower() == ".json":
            loaded: list[object] = [orjson.loads(raw)]
        else:
            loaded = [d for d in yaml.safe_load_all(raw) if d is not None]
    except orjson.JSONDecodeError as exc:
        raise JobConfigError(None, [FieldError("", f"{p}: not valid JSON: {exc}")]) from None
    except yaml.YAMLError as exc:
        raise JobConfigError(None, [FieldError("", f"{p}: not valid YAML: {_yaml_where(exc)}")]) from None
    docs: list[object] = []
    for item in loaded:
        docs.extend(item if isinstance(item, list) else [item])
    if not docs:
        raise JobConfigError(None, [FieldError("", f"{p}: holds no job")])
    return docs


def _yaml_where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "cannot parse"
    if mark is None:
        return str(problem)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
