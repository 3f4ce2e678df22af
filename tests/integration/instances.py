"""Starting tikstream instances (consumer_proc.py) as real processes and reading what they logged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent


@dataclass
class Instance:
    proc: subprocess.Popen[bytes]
    log: Path
    stderr: Path

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def tail(self) -> str:
        return self.stderr.read_text()[-3000:] if self.stderr.exists() else ""


def start(tmp: Path, env: dict[str, str]) -> Instance:
    name = uuid.uuid4().hex[:8]
    log, err = tmp / f"{name}.log", tmp / f"{name}.stderr"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "consumer_proc.py"), str(log)],
        env={**os.environ, "TIKSTREAM_HTTP_PORT": "0", **env}, stdout=subprocess.DEVNULL, stderr=err.open("wb"),
    )
    return Instance(proc, log, err)


@dataclass
class Log:
    """What one instance logged: records done and commits issued, in order."""

    done: set[tuple[str, int, int]] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    commits: int = 0
    assigned: int = 0


def read_log(path: Path) -> Log:
    """Parse a log and check the commit rule: when ``commit t p o`` was issued, every offset this instance
    handled on (t, p) below ``o`` had been done already."""
    out = Log()
    if not path.exists():
        return out
    done_by_tp: dict[tuple[str, int], set[int]] = defaultdict(set)
    first: dict[tuple[str, int], int] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["done"] and len(parts) == 4:
            tp, off = (parts[1], int(parts[2])), int(parts[3])
            done_by_tp[tp].add(off)
            first[tp] = min(first.get(tp, off), off)
            out.done.add((tp[0], tp[1], off))
        elif parts[:1] == ["commit"] and len(parts) == 4:
            tp, off = (parts[1], int(parts[2])), int(parts[3])
            out.commits += 1
            start_at = first.get(tp, off)
            missing = [o for o in range(start_at, off) if o not in done_by_tp[tp]]
            if missing:
                out.violations.append(f"commit {tp} {off} passes owed {missing[:5]}")
        elif parts[:1] == ["assigned"]:
            out.assigned += 1
    return out


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)
