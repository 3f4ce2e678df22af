"""Envelope and audience parsing (docs/tiktok-api.md §1.3, §2.6, §6.3)."""

from __future__ import annotations

import datetime as dt

import pytest

from tikstream.tiktok.models import AudienceDetails, MalformedEnvelope, PageInfo, TokenGrant, parse_envelope

UTC = dt.UTC


def test_envelope_ok() -> None:
    env = parse_envelope(b'{"code":0,"message":"OK","request_id":"2023","data":{"file_path":"fp"}}')
    assert (env.code, env.message, env.request_id, dict(env.data)) == (0, "OK", "2023", {"file_path": "fp"})


@pytest.mark.parametrize(
    ("body", "code", "data"),
    [pytest.param(b'{"code":40100,"message":"Too many","request_id":"r"}', 40100, {}, id="no-data"),
     pytest.param(b'{"code":40104,"message":"x","request_id":"r","data":null}', 40104, {}, id="null-data"),
     pytest.param(b'{"code":"40002","message":"x"}', 40002, {}, id="string-code-no-request-id"),
     pytest.param(b'{"code":0,"message":"OK","request_id":"r","data":[]}', 0, {}, id="list-data")],
)
def test_envelope_tolerates_missing_parts(body: bytes, code: int, data: dict[str, object]) -> None:
    env = parse_envelope(body)
    assert env.code == code
    assert dict(env.data) == data


@pytest.mark.parametrize(
    "body",
    [pytest.param(b"<html>502</html>", id="html"), pytest.param(b"", id="empty"),
     pytest.param(b"[1,2]", id="array"), pytest.param(b'{"message":"OK"}', id="no-code"),
     pytest.param(b'{"code":true}', id="bool-code"), pytest.param(b'{"code":"abc"}', id="text-code")],
)
def test_malformed_envelope(body: bytes) -> None:
    with pytest.raises(MalformedEnvelope):
        parse_envelope(body)


GET_ITEM = {
    "audience_details": {"audience_id": "123", "name": "CRM buyers", "calculate_type": "EMAIL_SHA256",
                         "cover_num": 0, "is_valid": False, "is_expiring": False,
                         "expired_time": "2027-01-01 00:00:00", "create_time": "2026-01-01 00:00:00",
                         "msg": "", "error_msg": "", "is_creator": True, "shared": False,
                         "type": "Customer File"},
    "audience_history": [{"action": "Create", "action_detail": "", "editor": "open_api", "msg": "",
                          "opt_time": "2026-01-01 00:00:00"}],
}


def test_audience_details_from_get_item() -> None:
    aud = AudienceDetails.parse(GET_ITEM)
    assert aud.audience_id == "123"
    assert aud.calculate_type == "EMAIL_SHA256"
    assert aud.expired_time == dt.datetime(2027, 1, 1, tzinfo=UTC)
    assert aud.is_creator is True
    assert aud.audience_type == "Customer File"
    assert aud.history[0].editor == "open_api"


def test_audience_details_from_flat_list_item() -> None:
    aud = AudienceDetails.parse({"audience_id": "9", "name": "n", "cover_num": 1500, "is_valid": True})
    assert (aud.audience_id, aud.cover_num, aud.is_valid, aud.history) == ("9", 1500, True, ())
    assert aud.expired_time is None


@pytest.mark.parametrize(
    ("changes", "status"),
    [pytest.param({}, "processing", id="not-valid-yet"),
     pytest.param({"is_valid": True}, "ready", id="valid"),
     pytest.param({"expired_time": "2025-06-01 00:00:00"}, "expired", id="expired"),
     pytest.param({"error_msg": "file parse failed"}, "failed", id="failed"),
     pytest.param({"expired_time": "garbage"}, "processing", id="unreadable-time")],
)
def test_audience_status(changes: dict[str, object], status: str) -> None:
    item = {"audience_details": {**GET_ITEM["audience_details"], **changes}}  # type: ignore[dict-item]
    assert AudienceDetails.parse(item).status(dt.datetime(2026, 6, 1, tzinfo=UTC)) == status


def test_page_info() -> None:
    info = {"page": 2, "page_size": 10, "total_number": 25, "total_page": 3}
    assert PageInfo.parse(info) == PageInfo(2, 10, 25, 3)
    assert PageInfo.parse(None) == PageInfo(0, 0, 0, 0)
    assert PageInfo.parse({"page": "2", "total_page": "x", "page_size": True}) == PageInfo(2, 0, 0, 0)


def test_token_grant_hides_the_token() -> None:
    from pydantic import SecretStr

    grant = TokenGrant(SecretStr("tok-xyz"), ("1",), (4,))
    assert "tok-xyz" not in repr(grant)
    assert "tok-xyz" not in str(grant)
    assert grant.access_token.get_secret_value() == "tok-xyz"
