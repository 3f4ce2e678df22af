"""``tikstream dlq``: replaying dead letters."""

from __future__ import annotations

import argparse
from typing import Any

from tikstream.cli.common import RAW, print_table, settings_options, unknown_job
from tikstream.errors import ConfigError
from tikstream.settings import Settings

EPILOG_DLQ = """examples:
  tikstream dlq replay --dry-run                      # what would be re-injected, per source topic and job
  tikstream dlq replay --job web-purchase             # only the letters of one job, after fixing it
  tikstream dlq replay --error-class job_unavailable

Letters go back to their source topic with their original key and value. Progress is kept in the consumer
group {group_id}.dlq-replay, so a letter is replayed once; letters not selected stay for a later replay.
"""


def add_dlq_parser(sub: Any) -> None:
    dlq = sub.add_parser("dlq", help="dead letters: replay them after a fix", formatter_class=RAW,
                         epilog=EPILOG_DLQ, description="Work with the dead-letter topic.")
    dsub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    replay = dsub.add_parser("replay", help="re-inject dead letters into their source topic", formatter_class=RAW,
                             epilog=EPILOG_DLQ, description="Re-inject dead letters into their source topic.")
    replay.add_argument("--job", help="only letters of this job (header 'job')")
    replay.add_argument("--error-class", action="append", default=[], metavar="CLASS",
                        help="only letters of this error class (e.g. job_unavailable); repeatable")
    replay.add_argument("--dry-run", action="store_true", help="show what would be replayed; change nothing")
    replay.add_argument("--timeout", type=float, default=60.0, help="seconds without progress before giving up")
    settings_options(replay, ("bootstrap_servers", "dlq_topic", "group_id", "config_topic"))



def cmd_dlq_replay(args: argparse.Namespace, settings: Settings) -> int:
    from tikstream.kafka.config_topic import read_config_topic
    from tikstream.kafka.dlq_replay import replay_dead_letters, replay_group

    kafka = settings.kafka_config()
    known_jobs: dict[str, Any] | None = None
    if args.job is not None:
        try:
            known_jobs = dict(read_config_topic(kafka, settings.config_topic))
        except ConfigError:
            known_jobs = {}
    report = replay_dead_letters(kafka, settings.dlq_topic, settings.group_id, job=args.job,
                                 error_classes=args.error_class, dry_run=args.dry_run, timeout=args.timeout)
    if args.job is not None and known_jobs is not None and args.job not in known_jobs and report.selected == 0:
        return unknown_job(args.job, known_jobs)
    verb = "would replay" if args.dry_run else "replayed"
    print(f"{verb} {report.replayed_total} dead letter(s) from {settings.dlq_topic} "
          f"(scanned {report.scanned}; progress group {replay_group(settings.group_id)})")
    if report.replayed:
        print_table([("SOURCE TOPIC", "JOB", "LETTERS"),
                      *((topic, job, str(n)) for (topic, job), n in sorted(report.replayed.items()))])
    notes = [(report.left_for_later, "not selected, kept for a later replay"),
             (report.already_replayed, "already replayed earlier"),
             (report.unreplayable, "cannot be replayed (no source topic, or the value was too large to keep)"),
             (report.deferred, "deferred: too many interleaved letters; run again without --job")]
    for count, text in notes:
        if count:
            print(f"  {count} {text}")
    return 0
