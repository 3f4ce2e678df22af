"""A tikstream instance for kill-and-restart tests: the real App (registry, consumer group, poll loop, DLQ,
commits) with a recording sink for every job type, logging what it finished and what it committed.

    python consumer_proc.py LOG_FILE  (settings from TIKSTREAM_* variables)

Log lines, written unbuffered in order: ``done TOPIC PARTITION OFFSET`` when the sink finished a record,
``commit TOPIC PARTITION OFFSET`` when a commit of that offset was issued, ``assigned N`` on assignment.
The sink finishes records a little at a time (a random share of what it owes on each poll), so offsets stay
owed for a while, as they would with a real sink waiting for TikTok.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Mapping
from typing import Any

from tikstream.app import App
from tikstream.jobs.registry import JobVersion
from tikstream.records import Partition
from tikstream.settings import Settings
from tikstream.sinks.base import SinkContext
from tikstream.testing import RecordingSink


class SlowSink(RecordingSink):
    def __init__(self, log: Any, rng: random.Random) -> None:
        super().__init__(capacity=5000, auto_complete=False,
                         on_done=lambda t, p, o: log.write(f"done {p[0]} {p[1]} {o}\n"))
        self._rng = rng

    def poll(self) -> None:
        self.complete(self._rng.randrange(0, 400))

    def flush(self, timeout: float) -> bool:
        self.complete()
        return True


def main(path: str) -> int:
    log = open(path, "a", buffering=1)  # noqa: SIM115 (lives as long as the process)
    rng = random.Random()

    def build(version: JobVersion, ctx: SinkContext) -> SlowSink:
        return SlowSink(log, rng)

    types = ("audience_export", "app_events", "web_events", "offline_events")
    app = App(Settings(), builders={t: build for t in types})
    real_commit = app.consumer.commit

    def commit(offsets: Mapping[Partition, int], *, asynchronous: bool) -> bool:
        for (topic, partition), offset in offsets.items():
            log.write(f"commit {topic} {partition} {offset}\n")
        return real_commit(offsets, asynchronous=asynchronous)

    app.consumer.commit = commit  # type: ignore[method-assign]
    real_assigned = app._assigned

    def assigned(parts: list[Partition]) -> None:
        log.write(f"assigned {len(parts)}\n")
        real_assigned(parts)

    app._assigned = assigned  # type: ignore[method-assign]
    app.install_signal_handlers()
    return app.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
