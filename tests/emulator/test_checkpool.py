"""Track bodies checked in worker processes answer exactly as in the serving process, survive a dead worker,
and the workers die with the emulator."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from emu_api import event

from tikstream.emulator.checkpool import IN_PLACE_MAX_BYTES, TrackChecker, cpu_seconds
from tikstream.emulator.events import Checked, check_body


def _body(events: list[dict[str, object]], **top: object) -> bytes:
    return orjson.dumps({"event_source": "web", "event_source_id": "CPIXEL0001", "data": events, **top})


def _bodies() -> dict[str, bytes]:
    good = [event(i) for i in range(1000)]
    bad_id = [*good[:731], event(731, event_id=731), *good[732:]]
    bad_hash = [*good[:5], event(5, user={"email": ["NOT-A-HASH"]}), *good[6:]]
    return {
        "valid-1000": _body(good),
        "event-id-not-string-at-731": _body(bad_id),
        "hash-not-hex-at-5": _body(bad_hash),
        "bad-source": _body(good, event_source="pixel"),
        "float-event-time": _body([*good[:999], event(999, event_time=1.5e9)]),
        "not-json": b"{" + b"x" * IN_PLACE_MAX_BYTES,
        "small-valid": _body(good[:3]),
    }


@pytest.fixture
def checker() -> Iterator[TrackChecker]:
    made = TrackChecker(2)
    yield made
    made.close()


def test_workers_give_the_serving_process_answer(checker: TrackChecker) -> None:
    bodies = _bodies()

    async def check_all() -> dict[str, Checked]:
        return dict(zip(bodies, await asyncio.gather(*map(checker.check, bodies.values())), strict=True))

    answers = asyncio.run(check_all())
    for name, body in bodies.items():
        assert answers[name] == check_body(body), name
    assert answers["valid-1000"].error is None
    assert "data.731.event_id" in str(answers["event-id-not-string-at-731"].error)
    large = sum(len(body) > IN_PLACE_MAX_BYTES for body in bodies.values())
    assert (checker.in_workers, checker.in_place) == (large, len(bodies) - large)
    assert len(checker.worker_pids()) == 2


def test_a_dead_worker_is_replaced_and_the_body_still_checked(checker: TrackChecker) -> None:
    body = _bodies()["valid-1000"]
    expected = check_body(body)

    async def scenario() -> None:
        assert [await checker.check(body), await checker.check(body)] == [expected, expected]
        old = checker.worker_pids()
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.2)
        assert await checker.check(body) == expected  # found dead: checked in place
        assert await checker.check(body) == expected
        assert await checker.check(body) == expected
        new = checker.worker_pids()
        assert len(new) == 2 and not set(new) & set(old)
        assert checker.in_place == 2  # one per dead worker found
        assert checker.in_workers == 3

    asyncio.run(scenario())


def test_a_cancelled_check_does_not_leave_a_confused_worker(checker: TrackChecker) -> None:
    body, other = _bodies()["valid-1000"], _bodies()["event-id-not-string-at-731"]

    async def scenario() -> None:
        task = asyncio.ensure_future(checker.check(body))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        answers = await asyncio.gather(*(checker.check(other) for _ in range(4)))
        assert answers == [check_body(other)] * 4
        assert len(checker.worker_pids()) == 2

    asyncio.run(scenario())


def test_a_worker_holds_no_descriptor_of_the_server(checker: TrackChecker) -> None:
    """A worker started while the server runs (a replacement) must not keep its sockets open."""
    body = _bodies()["valid-1000"]
    listening = socket.create_server(("127.0.0.1", 0))

    async def scenario() -> None:
        await checker.check(body)
        os.kill(checker.worker_pids()[0], signal.SIGKILL)
        await asyncio.sleep(0.2)
        for _ in range(3):
            await checker.check(body)

    try:
        asyncio.run(scenario())
        for pid in checker.worker_pids():
            extra = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")} - {0, 1, 2}
            assert len(extra) == 1, f"worker {pid} holds {sorted(extra)}"  # its own socket only
    finally:
        listening.close()


def test_no_workers_checks_in_place() -> None:
    checker = TrackChecker(0)
    body = _bodies()["valid-1000"]
    assert asyncio.run(checker.check(body)) == check_body(body)
    assert (checker.in_workers, checker.in_place, checker.worker_pids()) == (0, 1, [])
    with pytest.raises(ValueError, match="negative"):
        TrackChecker(-1)


def test_emulator_reports_worker_cpu_and_its_workers_die_with_it() -> None:
    cmd = [sys.executable, "-m", "tikstream.emulator", "--port", "0", "--check-workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().split(" on ", 1)[1].strip()
        root = base.removesuffix("/open_api/v1.3")
        answer = httpx.post(
            base + "/event/track/", content=_bodies()["valid-1000"], headers={"Access-Token": "t"}, timeout=30
        ).json()
        assert answer["code"] == 0
        process = httpx.get(root + "/_emulator/state", timeout=30).json()["process"]
        pids = [w["pid"] for w in process["workers"]]
        assert len(pids) == 2 and process["track_checks"] == {"in_workers": 1, "in_place": 0}
        assert process["cpu_seconds_total"] == pytest.approx(
            process["cpu_seconds"] + sum(w["cpu_seconds"] for w in process["workers"])
        )
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in pids)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()


def test_negative_workers_stop_the_emulator() -> None:
    cmd = [sys.executable, "-m", "tikstream.emulator", "--port", "0", "--check-workers", "-1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--check-workers" in done.stderr


def test_cpu_seconds_of_a_missing_process_is_zero() -> None:
    assert cpu_seconds(2**22 + 12345) == 0.0
    assert cpu_seconds(os.getpid()) > 0.0


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie does not: it has exited and waits for its parent)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
