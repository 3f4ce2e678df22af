"""``tikstream jobs``: validate, apply, delete, list and status of job configs on the config topic."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tikstream.cli.common import RAW, print_table, require_kafka, settings_options, unknown_job
from tikstream.cli.preview import add_preview_parser, cmd_preview
from tikstream.errors import ConfigError, JobConfigError
from tikstream.settings import Settings

EPILOG_JOBS = """examples:
  tikstream jobs validate -f examples/web-events.yaml
  tikstream jobs apply -f examples/web-events.yaml -f examples/audience-export.yaml
  tikstream jobs list
  tikstream jobs status web-purchase
  tikstream jobs delete web-purchase
  tikstream jobs preview -f examples/web-events.yaml --triggers examples/triggers.jsonl

Job reference: docs/jobs.md (generated from schemas/job.schema.json).
"""


def add_jobs_parser(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="manage job configs on the config topic", epilog=EPILOG_JOBS,
                          formatter_class=RAW, description="Validate, publish, list and delete jobs.")
    jsub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    for name, text, example in (
        ("apply", "validate every file and its authorization, then publish them all (or none)",
         "tikstream jobs apply -f examples/web-events.yaml -f examples/audience-export.yaml"),
        ("validate", "validate job files; exit 1 with every error, field by field",
         "tikstream jobs validate -f examples/web-events.yaml"),
    ):  # fmt: skip
        p = jsub.add_parser(name, help=text, description=text, formatter_class=RAW,
                            epilog=f"example:\n  {example}\n\nJob reference: docs/jobs.md")
        p.add_argument("-f", "--file", action="append", required=True, type=Path, dest="files",
                       help="a JSON or YAML job file (one job, a list, or several YAML documents); repeatable")
        settings_options(p)
    for name, text, example in (
        ("delete", "delete a job (a tombstone on the config topic)", "tikstream jobs delete web-purchase"),
        ("list", "list the jobs on the config topic", "tikstream jobs list"),
        ("status", "state and progress of jobs, from a running instance's /jobs", "tikstream jobs status"),
    ):  # fmt: skip
        p = jsub.add_parser(name, help=text, description=text, formatter_class=RAW, epilog=f"example:\n  {example}")
        if name == "delete":
            p.add_argument("job_id", help="the job id")
        if name == "status":
            p.add_argument("job_id", nargs="?", help="one job (default: all)")
            p.add_argument("--url", help="a running instance (default http://127.0.0.1:HTTP_PORT)")
        settings_options(p)
    add_preview_parser(jsub)


def _load_jobs(files: list[Path], authorizations: Mapping[str, Any] | None) -> tuple[list[Any], list[str]]:
    """Every job of ``files`` and every error, field by field; with ``authorizations``, each job's authorization
    check too (for a job with other errors, the checks that need only its ``auth`` and ``type``)."""
    from tikstream.jobs.loading import load_job_file

    jobs: list[Any] = []
    errors: list[str] = []
    for path in files:
        try:
            found = load_job_file(path)
        except JobConfigError as exc:
            errors.extend(f"{path}: {exc.job_id or '?'}: {e}" for e in exc.errors)
            if authorizations is not None:
                errors.extend(_document_auth_errors(path, authorizations))
            continue
        except ConfigError as exc:
            errors.append(f"{path}: {exc}")
            continue
        jobs.extend(found)
        if authorizations is not None:
            from tikstream.auth import check_job_auth

            many = len(found) > 1
            errors.extend(f"{path}: {job.id}: {_at(i, many)}{e}" for i, job in enumerate(found)
                          for e in check_job_auth(job, authorizations))
    seen: set[str] = set()
    for job in jobs:
        if job.id in seen:
            errors.append(f"job {job.id!r} is defined twice")
        seen.add(job.id)
    return jobs, errors


def _document_auth_errors(path: Path, authorizations: Mapping[str, Any]) -> list[str]:
    from tikstream.auth import check_document_auth, check_job_auth
    from tikstream.jobs.loading import job_documents
    from tikstream.jobs.models import parse_job

    docs = job_documents(path)
    out: list[str] = []
    for i, doc in enumerate(docs):
        if not isinstance(doc, Mapping):
            continue
        try:
            found = check_job_auth(parse_job(doc), authorizations)
        except JobConfigError:
            found = check_document_auth(doc, authorizations)
        job_id = doc.get("id") if isinstance(doc.get("id"), str) else "?"
        out.extend(f"{path}: {job_id}: {_at(i, len(docs) > 1)}{e}" for e in found)
    return out


def _at(index: int, many: bool) -> str:
    return f"[{index}]." if many else ""


def _authorizations(settings: Settings, *, required: bool) -> tuple[Mapping[str, Any] | None, list[str]]:
    """The authorization file's entries, when ``required`` (``apply``) or configured (``validate``: the
    setting was given, or the file exists at its default path); else None. An unusable file is an error."""
    from tikstream.auth import load_authorizations

    configured = "auth_file" in settings.model_fields_set or Path(settings.auth_file).exists()
    if not (required or configured):
        return None, []
    try:
        return load_authorizations(settings.auth_file), []
    except ConfigError as exc:
        return None, [str(exc)]


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    authorizations, errors = _authorizations(settings, required=False)
    jobs, job_errors = _load_jobs(args.files, authorizations)
    errors += job_errors
    for e in errors:
        print(f"invalid: {e}", file=sys.stderr)
    if not errors:
        checked = " and their authorizations" if authorizations is not None else ""
        print(f"ok: {len(jobs)} job(s) valid{checked}: {', '.join(j.id for j in jobs)}")
    return 1 if errors else 0


def cmd_apply(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.app import own_topics
    from tikstream.jobs.changes import change_errors
    from tikstream.jobs.models import job_to_json
    from tikstream.kafka.admin import ensure_topics
    from tikstream.kafka.config_topic import publish, read_config_topic

    authorizations, errors = _authorizations(settings, required=True)
    jobs, job_errors = _load_jobs(args.files, authorizations)
    errors += job_errors
    for e in errors:
        print(f"invalid: {e}", file=sys.stderr)
    if errors:
        print("nothing published", file=sys.stderr)
        return 1
    require_kafka(settings)
    kafka = settings.kafka_config()
    ensure_topics(kafka, own_topics(settings))
    current = read_config_topic(kafka, settings.config_topic)
    running = {job.id: _running(current.get(job.id)) for job in jobs}  # each topic version parsed once
    changed = [f"{job.id}: {e}" for job in jobs if running[job.id] is not None
               for e in change_errors(running[job.id], job)]
    if changed:
        for e in changed:
            print(f"invalid: {e}", file=sys.stderr)
        print("nothing published", file=sys.stderr)
        return 1
    now = datetime.now(UTC)
    records = []
    for job in jobs:
        previous = running[job.id]
        created = job.created_at or (previous.created_at if previous is not None else None) or now
        records.append((job.id, job_to_json(job.model_copy(update={"created_at": created}))))
    publish(kafka, settings.config_topic, records)
    for job in jobs:
        print(f"applied {job.id} ({job.type})")
    return 0


def _running(record: Any) -> Any:
    """The job version on the config topic (None: none, a tombstone, or invalid: nothing runs from it)."""
    from tikstream.jobs.models import parse_job

    if record is None or record.value is None:
        return None
    try:
        return parse_job(record.value)
    except JobConfigError:
        return None


def cmd_delete(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.kafka.config_topic import publish, read_config_topic

    kafka = settings.kafka_config()
    current = read_config_topic(kafka, settings.config_topic)
    if args.job_id not in current:
        return unknown_job(args.job_id, current)
    publish(kafka, settings.config_topic, [(args.job_id, None)])
    print(f"deleted {args.job_id}")
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.kafka.config_topic import read_config_topic

    current = read_config_topic(settings.kafka_config(), settings.config_topic)
    rows = [("ID", "TYPE", "VERSION", "AUTH")]
    for key, rec in sorted(current.items()):
        doc = _loads(rec.value)
        rows.append((key, str(doc.get("type", "?")), f"{rec.partition}:{rec.offset}", str(doc.get("auth", "?"))))
    print_table(rows)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    url = (args.url or f"http://127.0.0.1:{settings.http_port}").rstrip("/") + "/jobs"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            jobs = orjson.loads(resp.read())["jobs"]
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"error: no running tikstream answers at {url} ({reason}); start one with `tikstream run` "
              "or pass --url", file=sys.stderr)
        return 2
    if args.job_id:
        known = [j["id"] for j in jobs]
        jobs = [j for j in jobs if j["id"] == args.job_id]
        if not jobs:
            return unknown_job(args.job_id, known)
    rows = [("ID", "TYPE", "STATE", "VERSION", "AUDIENCE", "PENDING FILES", "SENT", "FAILED", "BACKFILL",
             "LAST ERROR")]
    for j in jobs:
        rows.append((j["id"], j.get("type", "?"), j.get("state", "?"), j.get("version", ""),
                     str(j.get("audience_id") or "-"), str(j.get("pending_files", "-")), str(j.get("sent", "-")),
                     str(j.get("failed", "-")), _backfill(j.get("backfill")), (j.get("last_error") or "")[:60]))
    print_table(rows)
    return 0


def _backfill(progress: Any) -> str:
    """``existing_users`` progress: state, users sent of users found."""
    if not isinstance(progress, dict):
        return "-"
    return f"{progress.get('state', '?')} {progress.get('sent', 0)}/{progress.get('users') or '?'}"


def _loads(value: bytes | None) -> dict[str, Any]:
    try:
        doc = orjson.loads(value or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


JOB_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "apply": cmd_apply, "validate": cmd_validate, "delete": cmd_delete, "list": cmd_list, "status": cmd_status,
    "preview": cmd_preview,
}  # fmt: skip
