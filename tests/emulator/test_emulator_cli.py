"""The emulator as a program (``cli.py``, run as ``python -m tikstream.emulator``): options on its command line,
a bad auth file stops it with exit 2, SIGTERM with exit 0. (Not ``test_cli.py``: ``tests/cli/`` has that name, and
pytest needs test file names unique across ``tests/``.)
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from emu_api import Api, event, hashes
from emulator_proc import running_emulator


def test_faults_can_be_set_on_the_command_line() -> None:
    with running_emulator("--throttle-rate", "1", "--latency-ms", "0") as base:
        api = Api(base)
        assert api.track([event(0)]).json()["code"] == 40100


def test_min_audience_size_zero_turns_the_rule_off() -> None:
    with running_emulator("--min-audience-size", "0", "--audience-ready-seconds", "0") as base:
        api = Api(base)
        audience_id = api.audience(hashes(1))
        reply = api.update(audience_id, action="REMOVE", file_paths=[api.file_path(hashes(1))])
        assert reply.json()["code"] == 0
        assert api.members(audience_id) == set()


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        pytest.param('{"kind": "pixel", "access_token": "t"}', "kind", id="unknown-kind"),
        pytest.param('{"kind": "offline_token", "access_token": "t"}', "event_set_id", id="offline-without-set"),
        pytest.param('{"kind": "events_token"}', "access_token", id="no-token"),
    ],
)
def test_bad_auth_file_stops_the_emulator(tmp_path: Path, entry: str, problem: str) -> None:
    path = tmp_path / "auth.json"
    path.write_text(f'{{"authorizations": {{"x": {entry}}}}}')
    cmd = [sys.executable, "-m", "tikstream.emulator", "--port", "0", "--tokens", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert problem in done.stderr


def test_sigterm_stops_with_exit_code_zero() -> None:
    cmd = [sys.executable, "-m", "tikstream.emulator", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("emulator listening on http://127.0.0.1:") and line.rstrip().endswith("/open_api/v1.3")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    proc.stdout.close()
