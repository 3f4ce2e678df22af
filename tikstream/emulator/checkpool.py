"""Where ``/event/track/`` bodies are decoded and checked: in worker processes, so that the emulator keeps up.

Checking a 1,000-event batch (orjson, then the rule book in jsonschema-rs) costs several milliseconds of CPU;
done in the serving process it caps the emulator near one core. ``TrackChecker(workers)`` forks that many
worker processes *before* the event loop starts; each runs ``events.check_body``, a pure function, on the bodies
it is sent and answers the pickled ``Checked``. The serving process keeps the HTTP, tokens, faults,
deduplication and all state. ``workers=0`` checks in the serving process, and small bodies are checked in place
either way: for them the hand-off costs more than the check.

The hand-off, per worker: the body is copied into a shared memory buffer (an anonymous shared mapping made
before the fork, as large as the largest body the server takes), its length goes over a socket pair driven by
the event loop, and the pickled ``Checked`` comes back on it. No threads, no body through a socket.

A worker that dies or stops answering mid-body is replaced and the body is checked in place. Workers die with
the emulator (``PR_SET_PDEATHSIG`` on Linux) and ignore SIGINT (Ctrl-C stops the emulator, which stops them).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import mmap
import multiprocessing
import os
import pickle
import signal
import socket
from dataclasses import dataclass
from typing import Final

from tikstream.emulator.events import Checked, check_body

log = logging.getLogger(__name__)

#: Bodies up to this size (about 50 events) are checked in the serving process.
IN_PLACE_MAX_BYTES: Final = 32 * 1024
#: The largest request body the server takes, and so the size of each worker's shared buffer (only the pages a
#: body touches use memory).
MAX_BODY_BYTES: Final = 64 * 1024 * 1024
_READ_LIMIT: Final = 1024 * 1024
_HEADER: Final = 8
_PR_SET_PDEATHSIG: Final = 1
_MAX_FD: Final = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536
_FORK = multiprocessing.get_context("fork")


def default_workers() -> int:
    """One worker more than there are CPUs (a worker waits while its answer is read), at most 4; none on a
    single CPU. On two CPUs: three."""
    cpus = os.cpu_count() or 1
    return min(cpus + 1, 4) if cpus >= 2 else 0


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    sock: socket.socket
    shared: mmap.mmap
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None


class _WorkerGone(Exception):
    pass


class TrackChecker:
    """Checks track bodies in ``workers`` forked processes (0: in the calling process). Used from one event
    loop: the first ``check()`` binds the workers' streams to it."""

    def __init__(self, workers: int) -> None:
        if workers < 0:
            raise ValueError("check workers must not be negative")
        self.workers = workers
        #: Bodies checked in a worker, and in the serving process (small bodies, no workers, a worker lost).
        self.in_workers = 0
        self.in_place = 0
        self._all: list[_Worker] = []
        self._idle: asyncio.Queue[_Worker] | None = None
        for _ in range(workers):
            self._spawn()

    async def check(self, body: bytes) -> Checked:
        """``check_body(body)``, in a worker when the body is worth the hand-off."""
        if self.workers and IN_PLACE_MAX_BYTES < len(body) <= MAX_BODY_BYTES:
            idle = self._idle_queue()
            worker = await idle.get()
            try:
                answer = await self._exchange(worker, body)
            except BaseException as exc:  # gone, or cancelled mid-body: its stream can not be trusted again
                self._discard(worker)
                idle.put_nowait(self._spawn())
                if not isinstance(exc, _WorkerGone):
                    raise
                log.warning("a track-check worker is gone; checking in place, another one is started")
            else:
                idle.put_nowait(worker)
                if answer is not None:
                    self.in_workers += 1
                    return answer
        self.in_place += 1
        return check_body(body)

    def _idle_queue(self) -> asyncio.Queue[_Worker]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for worker in self._all:
                self._idle.put_nowait(worker)
        return self._idle

    def _spawn(self) -> _Worker:
        ours, theirs = socket.socketpair()
        shared = mmap.mmap(-1, MAX_BODY_BYTES)  # anonymous and MAP_SHARED: the forked worker sees our writes
        process = _FORK.Process(target=_serve, args=(theirs, shared), name="track-check", daemon=True)
        process.start()
        theirs.close()
        worker = _Worker(process, ours, shared)
        self._all.append(worker)
        return worker

    async def _exchange(self, worker: _Worker, body: bytes) -> Checked | None:
        """The worker's answer; None if check_body failed there (the caller checks in place and sees why)."""
        try:
            if worker.streams is None:
                worker.streams = await asyncio.open_connection(sock=worker.sock, limit=_READ_LIMIT)
            reader, writer = worker.streams
            worker.shared[: len(body)] = body
            writer.write(len(body).to_bytes(_HEADER, "big"))
            size = int.from_bytes(await reader.readexactly(_HEADER), "big")
            answer = pickle.loads(await reader.readexactly(size))
        except (OSError, EOFError, pickle.UnpicklingError) as exc:  # IncompleteReadError is an EOFError
            raise _WorkerGone from exc
        return answer if isinstance(answer, Checked) else None

    def _discard(self, worker: _Worker) -> None:
        self._all.remove(worker)
        if worker.streams is not None:
            with contextlib.suppress(RuntimeError):  # its event loop has closed: closing the socket will do
                worker.streams[1].close()
        worker.sock.close()
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)
        worker.shared.close()

    def worker_pids(self) -> list[int]:
        return sorted(worker.process.pid for worker in self._all if worker.process.pid is not None)

    def close(self) -> None:
        for worker in list(self._all):
            self._discard(worker)
        self._idle = None


def _serve(sock: socket.socket, shared: mmap.mmap) -> None:
    """A worker: read a body's length, check that many bytes of the shared buffer, answer the pickled
    ``Checked`` (or an error string), repeat until the serving process closes its end."""
    _init_worker(sock.fileno())
    with sock:
        while True:
            header = _read(sock, _HEADER)
            if header is None:
                return
            body = shared[: int.from_bytes(header, "big")]
            try:
                answer: object = check_body(body)
            except Exception as exc:  # the serving process checks in place and sees it itself
                answer = f"{type(exc).__name__}: {exc}"
            out = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            sock.sendall(len(out).to_bytes(_HEADER, "big") + out)


def _read(sock: socket.socket, size: int) -> bytearray | None:
    """Exactly ``size`` bytes, or None at end of stream."""
    buf = bytearray(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            return None
        got += n
    return buf


def _init_worker(keep: int) -> None:
    """Die with the parent, leave Ctrl-C to it, drop the parent's signal plumbing (a worker forked while the
    event loop runs would otherwise wake the parent's loop with its own signals), close every descriptor but
    stdio and ``keep`` (a worker started after the server must not hold its listening socket or its client
    connections open), and keep the objects inherited from the parent out of the garbage collector's walks."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    os.closerange(3, keep)
    os.closerange(keep + 1, _MAX_FD)
    gc.freeze()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux ``/proc``); 0.0 if it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
