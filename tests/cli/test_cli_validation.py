"""``jobs validate`` and ``jobs apply`` report every error of a job at once, the authorization check included
(missing or wrong kind), and ``validate`` checks the authorization file whenever one is configured; ``jobs
preview`` on the examples. No Kafka: ``apply`` refuses before it would connect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tikstream.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
AUTH = EXAMPLES / "auth.json"
WEB: dict[str, Any] = {
    "id": "web", "type": "web_events", "auth": "pixel-token", "audiences": ["a"], "pixel_code": "C4ABCDEF",
    "event_name": "Purchase", "page_url_field": "user.page", "identifiers": {"user.email": "email"},
}  # fmt: skip
NO_KAFKA = ("--bootstrap-servers", "127.0.0.1:1")
TRIGGERS_FILE = EXAMPLES / "triggers.jsonl"


def _write(tmp_path: Path, doc: Any, name: str = "job.json") -> Path:
    path = tmp_path / name
    path.write_bytes(orjson.dumps(doc))
    return path


def _run(command: str, job: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str]]:
    code = main(["jobs", command, "-f", str(job), "--auth-file", str(AUTH), *NO_KAFKA, *extra])
    return code, [line for line in capsys.readouterr().err.splitlines() if line.startswith("invalid: ")]


@pytest.mark.parametrize("command", ["validate", "apply"])
@pytest.mark.parametrize(("auth", "message"), [
    pytest.param("store-offline", "'store-offline' is an offline_token; a web_events job needs an events_token or a "
                 "tiktok_signin", id="wrong-kind"),
    pytest.param("nobody", "no authorization named 'nobody' in the authorization file", id="missing"),
])  # fmt: skip
def test_every_error_at_once_with_the_authorization(command: str, auth: str, message: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    job = _write(tmp_path, {**WEB, "auth": auth, "batch_max_events": 5000, "identifiers": {"user.email": "emial"}})
    code, errors = _run(command, job, capsys)
    assert code == 1
    assert f"invalid: {job}: web: auth: {message}" in errors
    assert f"invalid: {job}: web: batch_max_events: must be less than or equal to 1000, not 5000" in errors
    assert (f"invalid: {job}: web: identifiers.user.email: 'emial' is not a TikTok user field of web events; "
            "did you mean 'email'?") in errors
    assert len(errors) == 3


@pytest.mark.parametrize("command", ["validate", "apply"])
def test_a_valid_job_with_the_wrong_authorization_is_refused_by_both(command: str, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    job = _write(tmp_path, {**WEB, "auth": "app-token"}, "scoped.json")
    code, errors = _run(command, job, capsys)
    assert code == 1
    assert errors == [f"invalid: {job}: web: auth: 'app-token' is an events_token for app 7200000000000000001 only"]


def test_every_job_of_a_list_gets_its_authorization_checked(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    job = _write(tmp_path, [{**WEB, "linger_ms": -1}, {**WEB, "id": "web2", "auth": "store-offline"}])
    code, errors = _run("validate", job, capsys)
    assert code == 1
    assert any("[0].linger_ms" in e for e in errors)
    assert any(e.startswith(f"invalid: {job}: web2: [1].auth: 'store-offline' is an offline_token") for e in errors)


def test_validate_checks_the_authorization_file_only_when_one_is_configured(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./auth.json, no TIKSTREAM_AUTH_FILE: nothing to check against
    monkeypatch.delenv("TIKSTREAM_AUTH_FILE", raising=False)
    job = _write(tmp_path, {**WEB, "auth": "nobody"})
    assert main(["jobs", "validate", "-f", str(job)]) == 0
    assert capsys.readouterr().out.startswith("ok: 1 job(s) valid: web")
    missing = tmp_path / "secrets.json"
    assert main(["jobs", "validate", "-f", str(job), "--auth-file", str(missing)]) == 1
    assert f"authorization file {missing} does not exist" in capsys.readouterr().err
    (tmp_path / "auth.json").write_bytes(AUTH.read_bytes())  # the default path now holds a file: it is used
    assert main(["jobs", "validate", "-f", str(job)]) == 1
    assert "no authorization named 'nobody'" in capsys.readouterr().err


def test_validate_accepts_every_example_with_its_authorization(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    args = [a for f in files for a in ("-f", str(f))]
    assert main(["jobs", "validate", *args, "--auth-file", str(AUTH)]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {len(files)} job(s) valid and their authorizations")


def test_preview_json_on_the_examples(capsys: pytest.CaptureFixture[str]) -> None:
    triggers = EXAMPLES / "triggers.jsonl"
    assert main(["jobs", "preview", "-f", str(EXAMPLES / "crm-events.yaml"), "--triggers", str(triggers),
                 "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert [r["path"] for r in doc["requests"]] == ["/event/track/"]
    (body,) = [r["body"] for r in doc["requests"]]
    assert body["event_source"] == "crm" and [e["lead"]["lead_id"] for e in body["data"]] == ["7301234567890"]
    lines = len([line for line in triggers.read_text().splitlines() if line.strip()])
    assert [t["offset_or_line"] for t in doc["triggers"]] == list(range(1, lines + 1))
    assert [t["routed"] for t in doc["triggers"]].count(True) == 2


def test_preview_text_says_what_was_left_out(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "preview", "-f", str(EXAMPLES / "web-events.yaml"), "--triggers",
                 str(EXAMPLES / "triggers.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out  # not a terminal: no colour
    assert "left out user.phone: letters" in out
    assert "left out event: not routed: an exit trigger; the job takes enter triggers" in out
    assert 'derived user.ttclid = "E.C.P.abc123" (url_param ttclid)' in out
    assert "request 1: POST /event/track/" in out


def test_preview_of_a_file_of_several_jobs_asks_which(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = _write(tmp_path, [WEB, {**WEB, "id": "web2"}])
    triggers = EXAMPLES / "triggers.jsonl"
    assert main(["jobs", "preview", "-f", str(jobs), "--triggers", str(triggers)]) == 1
    assert "holds 2 jobs (web, web2): choose one with --job" in capsys.readouterr().err
    assert main(["jobs", "preview", "-f", str(jobs), "--job", "web3", "--triggers", str(triggers)]) == 1
    assert "holds no job 'web3' (web, web2)" in capsys.readouterr().err
    assert main(["jobs", "preview", "-f", str(jobs), "--job", "web", "--triggers", str(tmp_path / "none")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert main(["jobs", "preview", "-f", str(jobs), "--job", "web2", "--triggers", str(triggers), "--json"]) == 0


def test_preview_text_is_coloured_on_a_terminal() -> None:
    from tikstream.cli.preview_text import render
    from tikstream.jobs.loading import load_job_file
    from tikstream.preview import Input, preview_job

    (job,) = load_job_file(EXAMPLES / "web-events.yaml")
    lines = [line for line in TRIGGERS_FILE.read_bytes().splitlines() if line.strip()]
    report = preview_job(job, [Input(n, line) for n, line in enumerate(lines, start=1)])
    coloured, plain = render(report, color=True), render(report, color=False)
    assert "\x1b[32mrouted\x1b[0m" in coloured and "\x1b[33mnot routed\x1b[0m" in coloured
    assert "\x1b[" not in plain
    assert plain.splitlines()[1] == f"{len(lines)} trigger(s), 2 routed, 1 request(s)"
