"""Run the emulator as a child process, for tests and benchmarks: ``running_emulator(*args)``."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from typing import IO, Final

READY_PREFIX: Final = "emulator listening on "


def _read_first_line(stream: IO[str], into: queue.Queue[str]) -> None:
    into.put(stream.readline())


@contextlib.contextmanager
def running_emulator(*extra_args: str, ready_timeout_s: float = 20.0) -> Iterator[str]:
    """Start ``python -m tikstream.emulator --port 0 *extra_args``; yield its base URL
    (``http://127.0.0.1:PORT/open_api/v1.3``) once it is listening; stop it with SIGTERM on exit.

    Raises ``RuntimeError`` with the emulator's stderr if it does not become ready in time.
    """
    with tempfile.TemporaryFile(mode="w+") as stderr:
        cmd = [sys.executable, "-m", "tikstream.emulator", "--port", "0", *extra_args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            yield _wait_ready(proc, stderr, ready_timeout_s)
        finally:
            _stop(proc)


def _wait_ready(proc: subprocess.Popen[str], stderr: IO[str], timeout_s: float) -> str:
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_first_line, args=(proc.stdout, lines), daemon=True).start()
    try:
        line = lines.get(timeout=timeout_s)
    except queue.Empty:
        line = ""
    if not line.startswith(READY_PREFIX):
        _stop(proc)
        stderr.seek(0)
        raise RuntimeError(f"emulator did not start (exit {proc.returncode}): {line!r}\n{stderr.read()}")
    return line[len(READY_PREFIX) :].strip()


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
