"""Background services of the demo: started detached, with a pid file and a log under the demo directory.

A service outlives the ``tikstream demo`` process that started it (its own session, so ``make`` finishing or
Ctrl-C in the terminal does not stop it); ``stop`` ends it by its pid file, SIGTERM first. A pid file is only
trusted when the process it names still runs the command the demo started (its command line carries the
service's marker), so a stale pid reused by another process is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["Service", "free_port", "http_ok", "pick_port", "wait_until"]

STOP_WAIT_S: Final = 25.0


@dataclass(frozen=True, slots=True)
class Service:
    """A demo service: ``name`` names its files, ``marker`` must appear in its command line."""

    name: str
    marker: str
    directory: Path

    @property
    def pid_file(self) -> Path:
        return self.directory / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"

    def start(self, args: Sequence[str], env: Mapping[str, str], program: str | None = None) -> subprocess.Popen[bytes]:
        """Start ``python -m <args>`` (or ``program <args>``) detached. The returned ``Popen`` tells whether it is
        still alive while it starts (before ``exec`` its command line is still the parent's, so ``running()``
        cannot)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [program, *args] if program is not None else [sys.executable, "-m", *args]
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=dict(env), start_new_session=True,
            )  # fmt: skip
        self.pid_file.write_text(f"{proc.pid}\n")
        return proc

    def pid(self) -> int | None:
        """The pid from the pid file when that process is alive and is this service."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        if not _alive(pid) or self.marker.encode() not in cmdline:
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def stop(self) -> bool:
        """SIGTERM, then SIGKILL after ``STOP_WAIT_S``; True when a running service was stopped."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: not _alive(pid), STOP_WAIT_S):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_until(lambda: not _alive(pid), 5.0)
        return True


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is dead


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT does not count
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def pick_port(preferred: int) -> int:
    """``preferred`` when it is free (0: any free port), else a free port."""
    if preferred and _bindable(preferred):
        return preferred
    return free_port()


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError):
        return False
