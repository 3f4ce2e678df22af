"""`tikstream auth login --no-browser` and `tikstream auth check` as a user runs them, against the emulator over
real sockets: the printed URL is opened with urllib (following the redirect to the callback), the token lands
in a 0600 file next to the entries already there, it works, and no output ever shows it."""

from __future__ import annotations

import os
import queue
import stat
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import orjson
import pytest
from emulator_proc import admin_url, running_emulator

from tikstream.auth import TikTokSignin, load_authorizations
from tikstream.oauth_login import portal_url
from tikstream.tiktok.client import TikTokClient

APP_ID, SECRET = "7310000000000000099", "app-secret-for-tests"
ADVERTISERS = ("7000000000000000001", "7000000000000000002")
EXISTING = {"authorizations": {"pixel-token": {"kind": "events_token", "access_token": "keep-me-pixel"}}}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with running_emulator("--app-id", APP_ID, "--app-secret", SECRET,
                          "--advertiser-ids", ",".join(ADVERTISERS)) as url:
        yield url


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tikstream.cli", *args]


def _login(base_url: str, auth_file: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _cli("auth", "login", "--name", "signin", "--app-id", APP_ID, "--secret", SECRET, "--no-browser",
             "--redirect-port", "0", "--timeout", "30", "--tiktok-base-url", base_url, "--auth-file", str(auth_file),
             *extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _printed_url(proc: subprocess.Popen[str], timeout: float = 20.0) -> tuple[str, list[str]]:
    """The portal URL from the login's stdout (read in a thread: readline would block forever)."""
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    while True:
        line = lines.get(timeout=timeout)
        seen.append(line)
        if "/portal/auth?" in line:
            return line.strip(), seen


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    code = proc.wait(30)
    assert proc.stderr is not None
    return code, proc.stderr.read()


@pytest.mark.parametrize("existing", [pytest.param(True, id="file-with-entries"), pytest.param(False, id="no-file")])
def test_login_saves_a_working_token_in_a_private_file(base_url: str, tmp_path: Path, existing: bool) -> None:
    auth_file = tmp_path / "secrets" / "auth.json"
    if existing:
        auth_file.parent.mkdir()
        auth_file.write_bytes(orjson.dumps(EXISTING))
        auth_file.chmod(0o644)
    proc = _login(base_url, auth_file)
    url, _ = _printed_url(proc)
    assert url.startswith(base_url.removesuffix("/open_api/v1.3") + "/portal/auth?")
    query = parse_qs(urlsplit(url).query)
    assert query["app_id"] == [APP_ID] and query["state"][0]
    assert query["redirect_uri"][0].startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url, timeout=10) as resp:  # follows the 302 to the callback
        assert resp.status == 200 and b"authorised" in resp.read()
    code, err = _finish(proc)
    assert code == 0, err

    assert stat.S_IMODE(os.stat(auth_file).st_mode) == 0o600
    auths = load_authorizations(auth_file)
    signin = auths["signin"]
    assert isinstance(signin, TikTokSignin)
    assert (signin.app_id, signin.advertiser_ids) == (APP_ID, ADVERTISERS)
    if existing:
        assert auths["pixel-token"].access_token.get_secret_value() == "keep-me-pixel"
    token = signin.access_token.get_secret_value()
    with TikTokClient(base_url) as client:
        listed = client.list_advertisers(token, APP_ID, SECRET)
    assert [a.advertiser_id for a in listed] == list(ADVERTISERS)
    assert token not in err and SECRET not in err

    check = subprocess.run(_cli("auth", "check", "signin", "--auth-file", str(auth_file), "--tiktok-base-url",
                                base_url), capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert all(a in check.stdout for a in ADVERTISERS)
    for secret in (token, SECRET):
        assert secret not in check.stdout and secret not in check.stderr


def test_login_output_never_shows_the_token(base_url: str, tmp_path: Path) -> None:
    auth_file = tmp_path / "auth.json"
    proc = _login(base_url, auth_file)
    url, before = _printed_url(proc)
    urllib.request.urlopen(url, timeout=10).close()
    code, err = _finish(proc)
    assert code == 0, err
    token = load_authorizations(auth_file)["signin"].access_token.get_secret_value()
    printed = "".join(before) + err
    assert token not in printed and SECRET not in printed
    assert "signin" in printed or code == 0


def test_a_callback_with_another_state_is_refused(base_url: str, tmp_path: Path) -> None:
    auth_file = tmp_path / "auth.json"
    proc = _login(base_url, auth_file)
    url, _ = _printed_url(proc)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    forged = urlunsplit((*parts[:3], urlencode({**query, "state": "forged"}), ""))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(forged, timeout=10)
    assert refused.value.code == 400
    code, err = _finish(proc)
    assert code == 2 and "state does not match" in err
    assert not auth_file.exists()


def test_a_wrong_secret_saves_nothing(base_url: str, tmp_path: Path) -> None:
    auth_file = tmp_path / "auth.json"
    proc = subprocess.Popen(
        _cli("auth", "login", "--name", "signin", "--app-id", APP_ID, "--secret", "not-the-secret", "--no-browser",
             "--redirect-port", "0", "--timeout", "30", "--tiktok-base-url", base_url, "--auth-file", str(auth_file)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url, _ = _printed_url(proc)
    urllib.request.urlopen(url, timeout=10).close()
    code, err = _finish(proc)
    assert code == 1 and "TikTok refused the sign-in" in err and "nothing saved" in err
    assert "not-the-secret" not in err
    assert not auth_file.exists()


def test_check_reports_a_revoked_token(base_url: str, tmp_path: Path) -> None:
    auth_file = tmp_path / "auth.json"
    auth_file.write_bytes(orjson.dumps({"authorizations": {"old": {
        "kind": "tiktok_signin", "access_token": "revoked-token", "app_id": APP_ID, "secret": SECRET}}}))
    revoke = urllib.request.Request(admin_url(base_url, "tokens"), data=orjson.dumps({"revoke": ["revoked-token"]}),
                                    method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(revoke, timeout=10).close()
    check = subprocess.run(_cli("auth", "check", "old", "--auth-file", str(auth_file), "--tiktok-base-url", base_url),
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1
    assert "auth login --name old" in check.stderr and "revoked-token" not in check.stderr


@pytest.mark.parametrize(("base", "portal"), [
    pytest.param("https://business-api.tiktok.com/open_api/v1.3", "https://business-api.tiktok.com/portal/auth",
                 id="tiktok"),
    pytest.param("http://127.0.0.1:18080/open_api/v1.3/", "http://127.0.0.1:18080/portal/auth", id="emulator"),
    pytest.param("http://proxy.example/tiktok/open_api/v1.3", "http://proxy.example/tiktok/portal/auth",
                 id="behind-a-prefix"),
])  # fmt: skip
def test_portal_url_derives_from_the_base_url(base: str, portal: str) -> None:
    url = portal_url(base, "app", "http://127.0.0.1:8585/callback", "st")
    assert url.split("?", 1)[0] == portal
    assert parse_qs(urlsplit(url).query) == {"app_id": ["app"], "state": ["st"],
                                             "redirect_uri": ["http://127.0.0.1:8585/callback"]}
