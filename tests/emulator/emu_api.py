"""A small client for the emulator's tests: TikTok's requests, built right unless a test breaks them.

A request case is ``pytest.param(send, http_status, code, message, id=...)``: ``send(api)`` makes the request
(after any setup it needs, with the same client, so a broken setup fails loudly in its own assertion) and
``assert_answer`` checks the HTTP status, the envelope ``code`` and a fragment of the message.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

ADVERTISER = "7000000000000000000"
PIXEL = "CPIXEL0001"
TOKEN = "test-token"
LENIENT = {"min_audience_size": 0, "audience_ready_seconds": 0}  # the audience rules off
_DEFAULT = object()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def hashes(n: int, prefix: str = "user") -> list[str]:
    return [sha(f"{prefix}{i}@example.com") for i in range(n)]


def event(i: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid web event; ``overrides`` replace or add top-level item fields."""
    item: dict[str, Any] = {
        "event": "Purchase",
        "event_time": 1_735_689_600 + i,
        "event_id": f"order-{i}",
        "user": {"email": [sha(f"u{i}@example.com")], "ip": "203.0.113.7"},
        "properties": {"currency": "USD", "value": 46.0},
    }
    item.update(overrides)
    return item


def file_bytes(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Api:
    base: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10.0))
    token: str | None = TOKEN

    @property
    def root(self) -> str:
        return self.base.removesuffix("/open_api/v1.3")

    def call(self, method: str, path: str, token: Any = _DEFAULT, **kwargs: Any) -> httpx.Response:
        chosen = self.token if token is _DEFAULT else token
        headers = {"Access-Token": chosen} if chosen is not None else {}
        return self.client.request(method, self.base + path, headers=headers, **kwargs)

    def track(
        self, data: list[Any], source: str = "web", source_id: str = PIXEL, token: Any = _DEFAULT, **top: Any
    ) -> httpx.Response:
        body = {"event_source": source, "event_source_id": source_id, "data": data, **top}
        return self.call("POST", "/event/track/", token=token, json=body)

    def upload(
        self,
        content: bytes,
        calculate_type: str = "EMAIL_SHA256",
        filename: str = "users.csv",
        signature: str | None = None,
        advertiser_id: str = ADVERTISER,
        token: Any = _DEFAULT,
    ) -> httpx.Response:
        form = {
            "advertiser_id": advertiser_id,
            "calculate_type": calculate_type,
            "file_signature": signature or hashlib.md5(content).hexdigest(),
        }
        files = {"file": (filename, content, "text/csv")}
        return self.call("POST", "/dmp/custom_audience/file/upload/", token=token, data=form, files=files)

    def file_path(self, lines: list[str], calculate_type: str = "EMAIL_SHA256") -> str:
        reply = self.upload(file_bytes(lines), calculate_type)
        assert reply.json()["code"] == 0, reply.text
        return str(reply.json()["data"]["file_path"])

    def create(
        self,
        file_paths: list[str],
        calculate_type: str = "EMAIL_SHA256",
        advertiser_id: str = ADVERTISER,
        token: Any = _DEFAULT,
        **extra: Any,
    ) -> httpx.Response:
        body = {
            "advertiser_id": advertiser_id,
            "custom_audience_name": "CRM buyers",
            "calculate_type": calculate_type,
            "file_paths": file_paths,
            **extra,
        }
        return self.call("POST", "/dmp/custom_audience/create/", token=token, json=body)

    def audience(self, lines: list[str], calculate_type: str = "EMAIL_SHA256") -> str:
        reply = self.create([self.file_path(lines, calculate_type)], calculate_type)
        assert reply.json()["code"] == 0, reply.text
        return str(reply.json()["data"]["custom_audience_id"])

    def update(self, audience_id: str, token: Any = _DEFAULT, **body: Any) -> httpx.Response:
        payload = {"advertiser_id": ADVERTISER, "custom_audience_id": audience_id, **body}
        return self.call("POST", "/dmp/custom_audience/update/", token=token, json=payload)

    def get(self, ids: list[str], token: Any = _DEFAULT) -> httpx.Response:
        query = {"advertiser_id": ADVERTISER, "custom_audience_ids": "[" + ",".join(f'"{i}"' for i in ids) + "]"}
        return self.call("GET", "/dmp/custom_audience/get/", token=token, params=query)

    def admin(self, name: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        url = f"{self.root}/_emulator/{name}"
        reply = self.client.post(url, json=body or {}) if body is not None else self.client.get(url, params=params)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def advance(self, seconds: float) -> None:
        self.admin("clock", {"advance_seconds": seconds})

    def members(self, audience_id: str) -> set[str]:
        state = self.admin("state", members=1)
        return {m for a in state["audiences"] if a["id"] == audience_id for m in a["members"]}


def answer(reply: httpx.Response) -> tuple[int, int | None, str]:
    """(HTTP status, envelope code, message) of a reply; code None when the body is not an envelope."""
    if reply.headers.get("content-type", "").startswith("application/json"):
        body = reply.json()
        return reply.status_code, body.get("code"), str(body.get("message", ""))
    return reply.status_code, None, reply.text


def assert_answer(reply: httpx.Response, http_status: int, code: int | None, message: str) -> None:
    """``reply`` has that HTTP status and envelope code, and its message contains ``message``."""
    got = answer(reply)
    assert got[:2] == (http_status, code) and message in got[2], f"want {(http_status, code, message)}, got {got}"


Send = Callable[[Api], httpx.Response]


def lenient(api: Api) -> Api:
    """``api`` with the audience rules off (``LENIENT``)."""
    api.admin("settings", LENIENT)
    return api


def auth_code(api: Api, state: str = "xyz") -> str:
    """An auth code from the consent page (``/portal/auth`` consents at once)."""
    params = {"app_id": "emulator-app", "redirect_uri": "http://127.0.0.1:9/cb", "state": state}
    reply = api.client.get(f"{api.root}/portal/auth", params=params, follow_redirects=False)
    assert reply.status_code == 302, reply.text
    return parse_qs(urlsplit(reply.headers["location"]).query)["auth_code"][0]


def exchange(api: Api, code: str, secret: str = "emulator-secret") -> httpx.Response:
    """``POST /oauth2/access_token/`` for ``code`` (no token)."""
    body = {"app_id": "emulator-app", "secret": secret, "auth_code": code}
    return api.call("POST", "/oauth2/access_token/", token=None, json=body)
