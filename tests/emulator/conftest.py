"""Emulators for the tests in this folder, each a real child process on a free port, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from emu_api import ADVERTISER, PIXEL, Api
from emulator_proc import running_emulator

OFFLINE_SET = "1616318632825"
APP_ID = "7123456789"

AUTH_FILE = f"""
authorizations:
  main:    {{kind: tiktok_signin, access_token: signin-token, advertiser_ids: ["{ADVERTISER}"]}}
  any:     {{kind: tiktok_signin, access_token: signin-any}}
  pixel:   {{kind: events_token, access_token: pixel-token, pixel_code: {PIXEL}}}
  app:     {{kind: events_token, access_token: app-token, app_id: "{APP_ID}"}}
  events:  {{kind: events_token, access_token: events-token}}
  store:   {{kind: offline_token, access_token: offline-token, event_set_id: "{OFFLINE_SET}"}}
"""


@pytest.fixture(scope="session")
def open_base() -> Iterator[str]:
    """An emulator with its default options: any token, audiences ready after 3 s, 1,000 members minimum."""
    with running_emulator("--seed", "7") as base:
        yield base


@pytest.fixture(scope="session")
def tokens_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An emulator that accepts only the tokens of ``AUTH_FILE`` (YAML), with the audience rules off."""
    path: Path = tmp_path_factory.mktemp("auth") / "auth.yaml"
    path.write_text(AUTH_FILE)
    args = ("--tokens", str(path), "--min-audience-size", "0", "--audience-ready-seconds", "0")
    with running_emulator(*args) as base:
        yield base


@pytest.fixture
def api(open_base: str) -> Iterator[Api]:
    client = Api(open_base)
    client.admin("reset", {})
    yield client
    client.client.close()


@pytest.fixture
def tapi(tokens_base: str) -> Iterator[Api]:
    client = Api(tokens_base, token=None)
    client.admin("reset", {})
    yield client
    client.client.close()
