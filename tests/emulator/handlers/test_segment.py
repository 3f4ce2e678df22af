"""``/segment/audience/`` and ``/segment/mapping/`` over real sockets (docs/tiktok-api.md §2.9, §6.4): each
request with its answer, every refusal with TikTok's code and message, then membership as ``/_emulator/state``
shows it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emu_api import ADVERTISER, Api, Send, assert_answer, md5, sha

OTHER_ADVERTISER = "7000000000000000001"
EMAIL, PHONE = sha("a@example.com"), sha("+12133734253")


def segment(api: Api, name: str = "tikstream vip", advertiser_id: str = ADVERTISER, **extra: Any) -> httpx.Response:
    body = {"advertiser_id": advertiser_id, "action": "create", "custom_audience_name": name, **extra}
    return api.call("POST", "/segment/audience/", json=body)


def new_segment(api: Api, advertiser_id: str = ADVERTISER) -> str:
    reply = segment(api, advertiser_id=advertiser_id)
    assert reply.json()["code"] == 0, reply.text
    return str(reply.json()["data"]["audience_id"])


def el(value: str, audience_id: str) -> dict[str, Any]:
    return {"id": value, "audience_ids": [audience_id]}


def mapping(api: Api, rows: Any, schema: Any = ("EMAIL_SHA256", "PHONE_SHA256"), action: str = "add",
            advertiser_ids: Any = (ADVERTISER,), audience_id: str | None = None, **extra: Any) -> httpx.Response:
    aid = audience_id or new_segment(api)
    body = {"advertiser_ids": list(advertiser_ids), "action": action, "id_schema": list(schema),
            "batch_data": rows(aid) if callable(rows) else rows, **extra}
    return api.call("POST", "/segment/mapping/", json=body)


def _other_advertisers_audience(api: Api) -> httpx.Response:
    theirs = new_segment(api, OTHER_ADVERTISER)
    return mapping(api, lambda aid: [[el(EMAIL, theirs), {}]])


CASES = [
    pytest.param(lambda a: segment(a), 200, 0, "OK", id="create-ok"),
    pytest.param(lambda a: segment(a, action=None), 200, 0, "OK", id="create-is-the-default"),
    pytest.param(lambda a: segment(a, name=""), 200, 40002, "custom_audience_name: Missing data", id="no-name"),
    pytest.param(lambda a: segment(a, action="rename"), 200, 40002, "action: Must be one of", id="bad-action"),
    pytest.param(lambda a: a.call("POST", "/segment/audience/", token=None, json={"advertiser_id": ADVERTISER}),
                 200, 40104, "Access token is null", id="no-token"),
    pytest.param(lambda a: mapping(a, lambda aid: [[el(EMAIL, aid), el(PHONE, aid)], [el(EMAIL, aid), {}]]),
                 200, 0, "OK", id="mapping-ok"),
    pytest.param(lambda a: mapping(a, lambda aid: [[el(EMAIL, aid)]]), 200, 40002,
                 "batch_data.0: Length must be equal to the length of id_schema (2)", id="row-shorter-than-schema"),
    pytest.param(lambda a: mapping(a, lambda aid: [[el(EMAIL, aid), {}, {}]]), 200, 40002,
                 "batch_data.0: Length must be equal", id="row-longer-than-schema"),
    pytest.param(lambda a: mapping(a, lambda aid: [[el(EMAIL, aid), {}]], schema=["EMAIL_SHA256", "email_sha256"]),
                 200, 40002, "id_schema.1: Duplicate id type EMAIL_SHA256", id="duplicate-schema-entry"),
    pytest.param(lambda a: mapping(a, lambda aid: [[el(EMAIL, aid), {}]], schema=["EMAIL_SHA256", "GAID_SHA256"]),
                 200, 40002, "id_schema.1: Must be one of", id="unknown-schema-entry-gaid"),
    pytest.param(lambda a: mapping(a, lambda aid: [[el(EMAIL[:63], aid), {}]]), 200, 40002,
                 "batch_data.0.0.id: Not a valid EMAIL_SHA256 value: want 64 lower-case hex", id="hash-too-short"),
    pytest.param(lambda a: mapping(a, lambda aid: [[el(EMAIL.upper(), aid), {}]]), 200, 40002,
                 "batch_data.0.0.id: Not a valid EMAIL_SHA256", id="hash-upper-case"),
    pytest.param(lambda a: mapping(a, lambda aid: [[el(md5("x"), aid)]], schema=["IDFA_SHA256"]), 200, 40002,
                 "batch_data.0.0.id: Not a valid IDFA_SHA256", id="md5-in-a-sha256-slot"),
    pytest.param(lambda a: mapping(a, lambda aid: [[el(sha("x"), aid)]], schema=["AAID_MD5"]), 200, 40002,
                 "want 32 lower-case hex", id="sha256-in-an-md5-slot"),
    pytest.param(_other_advertisers_audience, 200, 40001, "belongs to no advertiser in advertiser_ids",
                 id="audience-of-another-advertiser"),
    pytest.param(lambda a: mapping(a, [[el(EMAIL, "123"), {}]], audience_id="123"), 200, 40007,
                 "audience 123 does not exist", id="unknown-audience"),
    pytest.param(lambda a: mapping(a, lambda aid: [[el(EMAIL, aid), {}]], action="APPEND"), 200, 40002,
                 "action: Must be one of: add, delete", id="file-api-action"),
    pytest.param(lambda a: mapping(a, lambda aid: [[{"audience_ids": [aid]}, {}]]), 200, 40002,
                 "batch_data.0.0.id: Missing data", id="element-without-id"),
    pytest.param(lambda a: mapping(a, lambda aid: []), 200, 40002, "batch_data: Length must be at least 1",
                 id="no-rows"),
]


@pytest.mark.parametrize("send, http_status, code, message", CASES)
def test_segment_requests_answer_as_tiktok(api: Api, send: Send, http_status: int, code: int, message: str) -> None:
    assert_answer(send(api), http_status, code, message)


def test_a_refused_mapping_changes_no_member(api: Api) -> None:
    aid = new_segment(api)
    reply = mapping(api, [[el(EMAIL, aid), {}], [el("bad", aid), {}]], audience_id=aid)
    assert reply.json()["code"] == 40002
    assert api.members(aid) == set()


def test_add_and_delete_change_the_members_shown_in_the_state(api: Api) -> None:
    aid = new_segment(api)
    rows = [[el(EMAIL, aid), el(PHONE, aid)], [el(sha("b@example.com"), aid), {}]]
    assert mapping(api, rows, audience_id=aid).json()["code"] == 0
    assert mapping(api, rows[:1], audience_id=aid).json()["code"] == 0  # an add again: a set, no change
    assert api.members(aid) == {EMAIL, PHONE, sha("b@example.com")}
    assert mapping(api, [[el(EMAIL, aid), {}]], action="delete", audience_id=aid).json()["code"] == 0
    assert api.members(aid) == {PHONE, sha("b@example.com")}
    found = next(a for a in api.admin("state")["audiences"] if a["id"] == aid)
    assert (found["kind"], found["members_count"]) == ("segment", 2)
    assert [h["action"] for h in found["history"]] == ["CREATE", "ADD", "ADD", "DELETE"]


def test_a_long_name_is_cut_and_the_audience_is_listed_with_the_others(api: Api) -> None:
    aid = str(segment(api, name="n" * 80).json()["data"]["audience_id"])
    details = api.get([aid]).json()["data"]["list"][0]["audience_details"]
    assert details["name"] == "n" * 67 + "..."
    assert details["type"] == "Partner Audience"


def test_delete_removes_the_audience(api: Api) -> None:
    aid = new_segment(api)
    body = {"advertiser_id": ADVERTISER, "action": "delete", "delete_audience_id": aid}
    assert api.call("POST", "/segment/audience/", json=body).json()["data"] == {"audience_id": aid}
    assert api.get([aid]).json()["code"] == 40007


def test_a_token_of_another_advertiser_may_not_map(tapi: Api) -> None:
    tapi.token = "signin-token"
    theirs = new_segment(tapi)
    reply = mapping(tapi, [[el(EMAIL, theirs), {}]], advertiser_ids=[OTHER_ADVERTISER], audience_id=theirs)
    assert_answer(reply, 200, 40001, f"No permission to operate advertiser: {OTHER_ADVERTISER}")


def test_the_state_shows_the_accepted_mapping_bodies_as_received(api: Api) -> None:
    aid = new_segment(api)
    assert mapping(api, [[el(EMAIL, aid), {}]], audience_id=aid).json()["code"] == 0
    assert mapping(api, [[el("bad", aid), {}]], audience_id=aid).json()["code"] == 40002  # refused: not kept
    (body,) = api.admin("state", mappings=1)["mappings"]
    assert body == {"advertiser_ids": [ADVERTISER], "action": "add", "id_schema": ["EMAIL_SHA256", "PHONE_SHA256"],
                    "batch_data": [[el(EMAIL, aid), {}]]}
    assert "mappings" not in api.admin("state")


def test_the_mapping_log_keeps_the_newest_bodies_within_its_rows() -> None:
    from tikstream.emulator.requestlog import MappingLog

    log = MappingLog(max_rows=5)
    for i, rows in enumerate([2, 2, 2, 9]):
        log.add({"n": i}, rows)
        if i == 2:
            assert log.bodies() == [{"n": 1}, {"n": 2}]  # 6 rows > 5: the oldest went
    assert log.bodies() == [{"n": 3}]  # one body over the bound stays alone
