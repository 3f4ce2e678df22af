"""The command line without Kafka: help texts, `jobs validate` exit codes and field paths, and the one-line
errors for the common mistakes (broker down, authorization file missing, unknown job, no running instance)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from tikstream.cli import build_parser, main
from tikstream.cli.common import bootstrap_hosts

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

COMMANDS = [
    pytest.param([], id="tikstream"),
    pytest.param(["run"], id="run"),
    pytest.param(["jobs"], id="jobs"),
    pytest.param(["jobs", "apply"], id="jobs-apply"),
    pytest.param(["jobs", "validate"], id="jobs-validate"),
    pytest.param(["jobs", "delete"], id="jobs-delete"),
    pytest.param(["jobs", "list"], id="jobs-list"),
    pytest.param(["jobs", "status"], id="jobs-status"),
    pytest.param(["jobs", "preview"], id="jobs-preview"),
    pytest.param(["auth"], id="auth"),
    pytest.param(["auth", "login"], id="auth-login"),
    pytest.param(["auth", "check"], id="auth-check"),
    pytest.param(["dlq"], id="dlq"),
    pytest.param(["dlq", "replay"], id="dlq-replay"),
    pytest.param(["demo"], id="demo"),
    pytest.param(["emulator"], id="emulator"),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_has_examples(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main([*command, "--help"])
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    out = capsys.readouterr().out
    assert code == 0
    assert "usage: tikstream" in out
    assert "example" in out, f"`tikstream {' '.join(command)} --help` shows no example"
    assert "tikstream " + " ".join(command) in out or not command


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("run", "jobs", "emulator", "auth", "dlq", "demo"):
        assert f"    {command} " in out


def test_parser_builds_without_side_effects() -> None:
    args = build_parser().parse_args(["dlq", "replay", "--job", "web-purchase", "--dry-run"])
    assert (args.command, args.dlq_command, args.job, args.dry_run) == ("dlq", "replay", "web-purchase", True)


# -- jobs validate --------------------------------------------------------------------------------------------

def _write(tmp_path: Path, name: str, doc: Any) -> Path:
    path = tmp_path / name
    path.write_bytes(orjson.dumps(doc))
    return path


WEB = {"id": "web", "type": "web_events", "auth": "pixel-token", "audiences": ["a"], "pixel_code": "C4ABCDEF",
       "event_name": "Purchase", "page_url_field": "user.page", "identifiers": {"user.email": "email"}}

INVALID = [
    pytest.param({**WEB, "batch_max_events": 5000}, "batch_max_events", id="out-of-range"),
    pytest.param({**WEB, "pixel_cod": "X"}, "pixel_cod", id="unknown-field"),
    pytest.param({k: v for k, v in WEB.items() if k != "pixel_code"}, "pixel_code", id="missing-field"),
    pytest.param({**WEB, "identifiers": {"user.email": "e-mail"}}, "identifiers", id="bad-mapping"),
    pytest.param([WEB, {**WEB, "id": "web2", "linger_ms": -1}], "[1].linger_ms", id="second-job-of-a-list"),
]


def test_validate_accepts_every_example(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert main(["jobs", "validate", *(a for f in files for a in ("-f", str(f)))]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {len(files)} job(s) valid")


@pytest.mark.parametrize(("doc", "path"), INVALID)
def test_validate_exits_1_naming_the_field(doc: Any, path: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "validate", "-f", str(_write(tmp_path, "job.json", doc))]) == 1
    err = capsys.readouterr().err
    assert err.startswith("invalid: ") and path in err


def test_validate_reports_every_error_of_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = _write(tmp_path, "one.json", {**WEB, "batch_max_events": 0, "linger_ms": -5})
    two = _write(tmp_path, "two.json", {**WEB, "id": "Bad Id"})
    assert main(["jobs", "validate", "-f", str(one), "-f", str(two)]) == 1
    err = capsys.readouterr().err
    assert all(word in err for word in ("batch_max_events", "linger_ms", "two.json", "id"))
    assert len(err.strip().splitlines()) >= 3


def test_validate_of_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "validate", "-f", str(tmp_path / "nope.yaml")]) == 1
    err = capsys.readouterr().err
    assert "nope.yaml" in err and "Traceback" not in err


# -- common mistakes --------------------------------------------------------------------------------------------

@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


KAFKA_COMMANDS = [
    pytest.param(["jobs", "list"], id="jobs-list"),
    pytest.param(["jobs", "delete", "web-purchase"], id="jobs-delete"),
    pytest.param(["jobs", "apply", "-f", str(EXAMPLES / "web-events.yaml"), "--auth-file",
                  str(EXAMPLES / "auth.json")], id="jobs-apply"),
    pytest.param(["dlq", "replay"], id="dlq-replay"),
    pytest.param(["demo", "--dir", "{tmp}"], id="demo"),
    pytest.param(["run", "--auth-file", str(EXAMPLES / "auth.json")], id="run"),
]


@pytest.mark.parametrize("command", KAFKA_COMMANDS)
def test_broker_down_is_one_clear_line(command: list[str], closed_port: int, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.replace("{tmp}", str(tmp_path)) for a in command]
    assert main([*argv, "--bootstrap-servers", f"127.0.0.1:{closed_port}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot reach Kafka at 127.0.0.1:{closed_port}")
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("command", [
    pytest.param(["run"], id="run"),
    pytest.param(["auth", "check", "tiktok-main"], id="auth-check"),
])  # fmt: skip
def test_missing_auth_file_is_named(command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "auth.json"
    assert main([*command, "--auth-file", str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: authorization file {missing} does not exist (see TIKSTREAM_AUTH_FILE)"


def test_apply_with_missing_auth_file_publishes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["jobs", "apply", "-f", str(EXAMPLES / "web-events.yaml"), "--auth-file", str(tmp_path / "a.json"),
                 "--bootstrap-servers", "127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "does not exist" in err and "nothing published" in err


def test_auth_check_of_an_unknown_name_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["auth", "check", "nope", "--auth-file", str(EXAMPLES / "auth.json")]) == 1
    err = capsys.readouterr().err
    assert "no authorization named 'nope'" in err and "tiktok-main" in err


def test_auth_check_refuses_other_kinds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["auth", "check", "pixel-token", "--auth-file", str(EXAMPLES / "auth.json")]) == 1
    err = capsys.readouterr().err
    assert "events_token" in err and "demo-pixel-token" not in err


@pytest.fixture
def jobs_endpoint() -> Iterator[str]:
    body = orjson.dumps({"jobs": [{"id": "web-purchase", "type": "web_events", "state": "running",
                                   "version": "0:1", "sent": 3, "failed": 0}]})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_status_of_an_unknown_job(jobs_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "status", "nope", "--url", jobs_endpoint]) == 1
    assert capsys.readouterr().err.strip() == "error: unknown job 'nope' (known: web-purchase)"


def test_status_table(jobs_endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "status", "--url", jobs_endpoint]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "TYPE", "STATE"]
    assert lines[1].split()[:3] == ["web-purchase", "web_events", "running"]


def test_status_without_a_running_instance(closed_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "status", "--http-port", str(closed_port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no running tikstream answers at http://127.0.0.1:{closed_port}/jobs")


def test_invalid_setting_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "status", "--http-port", "99999"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: invalid settings:") and "http_port" in err and len(err.splitlines()) == 1


def test_demo_stop_when_nothing_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "stop", "--dir", str(tmp_path)]) == 0
    assert "no demo service was running" in capsys.readouterr().out


@pytest.mark.parametrize(("servers", "hosts"), [
    pytest.param("127.0.0.1:9092", [("127.0.0.1", 9092)], id="one"),
    pytest.param("a:1, b:2", [("a", 1), ("b", 2)], id="two"),
    pytest.param("kafka", [("kafka", 9092)], id="default-port"),
    pytest.param("SASL_SSL://broker.example:9093", [("broker.example", 9093)], id="protocol"),
    pytest.param("[::1]:9092", [("::1", 9092)], id="ipv6"),
])  # fmt: skip
def test_bootstrap_hosts(servers: str, hosts: list[tuple[str, int]]) -> None:
    assert bootstrap_hosts(servers) == hosts
