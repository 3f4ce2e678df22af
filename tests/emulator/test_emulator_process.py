"""The emulator as a program: its import boundary, its command line, its auth file, its exit."""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import tikstream.emulator
from tikstream.emulator.tokens import EVENTS, OFFLINE, SIGNIN, load_auth_file

PACKAGE = Path(tikstream.emulator.__file__).parent
FORBIDDEN = ("tikstream.tiktok", "tikstream.mapping", "tikstream.sinks")


def _imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_the_referee_imports_nothing_of_the_player(module: Path) -> None:
    bad = {name for name in _imported_names(module) if name.startswith(FORBIDDEN)}
    assert not bad


def test_importing_the_emulator_loads_no_client_module() -> None:
    code = "import sys, tikstream.emulator.server; print([m for m in sys.modules if m.startswith(%r)])"
    out = subprocess.run([sys.executable, "-c", code % (FORBIDDEN,)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_auth_file_in_json(tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(
        '{"authorizations": {'
        '"a": {"kind": "tiktok_signin", "access_token": "t1", "app_id": "x", "secret": "y"},'
        '"b": {"kind": "events_token", "access_token": "t2", "pixel_code": "C1"},'
        '"c": {"kind": "offline_token", "access_token": "t3", "event_set_id": 16}}}'
    )
    grants = load_auth_file(path)
    assert {token: g.kind for token, g in grants.items()} == {"t1": SIGNIN, "t2": EVENTS, "t3": OFFLINE}
    assert grants["t3"].event_set_id == "16" and grants["t2"].pixel_code == "C1"


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
