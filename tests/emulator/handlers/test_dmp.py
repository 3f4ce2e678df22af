"""``/dmp/custom_audience/*`` over real sockets: customer files (docs/tiktok-api.md §2.1-§2.3) and audiences
(§2.4-§2.8), each request with its documented answer, then membership, readiness, paging and file paths.
"""

from __future__ import annotations

import httpx
import pytest
from emu_api import ADVERTISER, LENIENT, Api, Send, assert_answer, file_bytes, hashes, lenient, md5, sha


def _update_before_ready(api: Api) -> httpx.Response:
    api.admin("settings", {"min_audience_size": 0})
    audience_id = api.audience(hashes(3))
    return api.update(audience_id, action="APPEND", file_paths=[api.file_path(hashes(2, "more"))])


def _update_after_ready(api: Api) -> httpx.Response:
    api.admin("settings", {"min_audience_size": 0})
    audience_id = api.audience(hashes(3))
    api.advance(3.0)
    return api.update(audience_id, action="APPEND", file_paths=[api.file_path(hashes(2, "more"))])


def _append_below_minimum(api: Api) -> httpx.Response:
    api.admin("settings", {"min_audience_size": 0})
    audience_id = api.audience(hashes(5))
    api.admin("settings", {"min_audience_size": 1000, "audience_ready_seconds": 0})
    return api.update(audience_id, action="APPEND", file_paths=[api.file_path(hashes(5, "more"))])


def _list(api: Api) -> httpx.Response:
    lenient(api).audience(hashes(2))
    params = {"advertiser_id": ADVERTISER, "page": "1", "page_size": "10"}
    return api.call("GET", "/dmp/custom_audience/list/", params=params)


def _deleted_then_get(api: Api) -> httpx.Response:
    audience_id = lenient(api).audience(hashes(2))
    body = {"advertiser_id": ADVERTISER, "custom_audience_ids": [audience_id]}
    assert api.call("POST", "/dmp/custom_audience/delete/", json=body).json()["code"] == 0
    return api.get([audience_id])


MULTI = ["Email_SHA256,PHONE_SHA256,maid_md5", f"{sha('a')},,{md5('x')}", f",{sha('+12133734253')},"]


CASES = [
    pytest.param(lambda a: a.upload(file_bytes(hashes(3))), 200, 0, "OK", id="upload-ok"),
    pytest.param(
        lambda a: a.upload(file_bytes(["EMAIL_SHA256", *hashes(3)])),
        200,
        0,
        "OK",
        id="upload-single-type-header-tolerated",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(hashes(3)), signature=md5("other")),
        200,
        40900,
        "file_signature",
        id="upload-md5-mismatch-40900",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(hashes(3)), filename="users.xlsx"),
        200,
        40908,
        ".csv or .txt",
        id="upload-wrong-extension-40908",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(hashes(3)), calculate_type="EMAIL"),
        200,
        40909,
        "calculate_type",
        id="upload-unknown-calculate-type-40909",
    ),
    pytest.param(lambda a: a.upload(b""), 200, 40906, "empty", id="upload-empty-file-40906"),
    pytest.param(
        lambda a: a.upload(file_bytes([*hashes(2), "bob@example.com"])),
        200,
        40915,
        "line 3",
        id="upload-raw-value-40915",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(hashes(2)), calculate_type="IDFA_MD5"),
        200,
        40915,
        "MD5",
        id="upload-sha256-lines-in-md5-file-40915",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(MULTI), calculate_type="MULTIPLE_TYPES"),
        200,
        0,
        "OK",
        id="upload-multiple-types-ok",
    ),
    pytest.param(
        lambda a: a.upload(file_bytes(["Email", "a@example.com"]), calculate_type="MULTIPLE_TYPES"),
        200,
        40915,
        "raw values",
        id="upload-multiple-types-raw-column-40915",
    ),
    pytest.param(lambda a: lenient(a).create([a.file_path(hashes(3))]), 200, 0, "OK", id="create-ok"),
    pytest.param(lambda a: a.create([a.file_path(hashes(1000))]), 200, 0, "OK", id="create-1000-members-ok"),
    pytest.param(
        lambda a: a.create([a.file_path(hashes(999))]), 200, 40002, "at least 1000", id="create-below-1000-members"
    ),
    pytest.param(
        lambda a: lenient(a).create([a.file_path(hashes(3), "MAID_SHA256")], "MAID_SHA256"),
        200,
        40002,
        "calculate_type: Must be one of",
        id="create-maid-key-not-in-create-enum",
    ),
    pytest.param(
        lambda a: lenient(a).create([a.file_path(hashes(3))], "PHONE_SHA256"),
        200,
        40002,
        "does not match",
        id="create-file-of-other-type",
    ),
    pytest.param(
        lambda a: lenient(a).create(["emulator/nope"]),
        200,
        40007,
        "does not exist",
        id="create-unknown-file-path-40007",
    ),
    pytest.param(_update_before_ready, 200, 40002, "under processing", id="update-while-processing"),
    pytest.param(_update_after_ready, 200, 0, "OK", id="update-append-once-ready"),
    pytest.param(_append_below_minimum, 200, 40002, "at least 1000", id="update-leaving-fewer-than-1000"),
    pytest.param(
        lambda a: a.update(lenient(a).audience(hashes(2)), action="DELETE", file_paths=[a.file_path(hashes(1))]),
        200,
        40002,
        "action: Must be one of: APPEND, REMOVE, REPLACE",
        id="update-delete-is-not-an-action",
    ),
    pytest.param(lambda a: a.get([lenient(a).audience(hashes(2))]), 200, 0, "OK", id="get-ok"),
    pytest.param(lambda a: a.get(["123"]), 200, 40007, "does not exist", id="get-unknown-audience-40007"),
    pytest.param(_list, 200, 0, "OK", id="list-ok"),
    pytest.param(_deleted_then_get, 200, 40007, "does not exist", id="delete-then-get-40007"),
]


@pytest.mark.parametrize(("send", "http_status", "code", "message"), CASES)
def test_dmp_answer(api: Api, send: Send, http_status: int, code: int | None, message: str) -> None:
    assert_answer(send(api), http_status, code, message)


def test_update_without_action_replaces_members(api: Api) -> None:
    api.admin("settings", LENIENT)
    audience_id = api.audience(hashes(3))
    reply = api.update(audience_id, file_paths=[api.file_path(hashes(2, "new"))])
    assert reply.json()["code"] == 0
    assert api.members(audience_id) == set(hashes(2, "new"))
    history = api.admin("state")["audiences"][0]["history"]
    assert [op["action"] for op in history] == ["CREATE", "REPLACE"]


def test_append_and_remove_are_set_operations(api: Api) -> None:
    api.admin("settings", LENIENT)
    audience_id = api.audience(hashes(3))
    appended = api.file_path(hashes(4))  # 3 already there, 1 new
    assert api.update(audience_id, action="APPEND", file_paths=[appended]).json()["code"] == 0
    removed = api.file_path(hashes(2))
    assert api.update(audience_id, action="REMOVE", file_paths=[removed]).json()["code"] == 0
    assert api.members(audience_id) == set(hashes(4)[2:])
    history = api.admin("state")["audiences"][0]["history"]
    assert [(op["action"], op["added"], op["removed"]) for op in history] == [
        ("CREATE", 3, 0),
        ("APPEND", 1, 0),
        ("REMOVE", 0, 2),
    ]
    assert history[1]["file_paths"] == [appended]


def test_audience_becomes_valid_after_the_ready_delay(api: Api) -> None:
    api.admin("settings", {"min_audience_size": 0})
    audience_id = api.audience(hashes(2))
    details = api.get([audience_id]).json()["data"]["list"][0]["audience_details"]
    assert (details["is_valid"], details["msg"], details["audience_id"]) == (False, "processing", audience_id)
    api.advance(3.0)
    item = api.get([audience_id]).json()["data"]["list"][0]
    assert item["audience_details"]["is_valid"] is True
    assert item["audience_details"]["cover_num"] == 2
    assert item["audience_history"][0]["editor"] == "open_api"


def test_multiple_types_members_are_the_hashes_of_every_cell(api: Api) -> None:
    api.admin("settings", LENIENT)
    rows = ["EMAIL_SHA256,Phone_SHA256,MAID_MD5", f"{sha('a')},{sha('+1')},", f",,{md5('x')}"]
    audience_id = api.audience(rows, "MULTIPLE_TYPES")
    assert api.members(audience_id) == {sha("a"), sha("+1"), md5("x")}


def test_list_paginates(api: Api) -> None:
    api.admin("settings", LENIENT)
    for _ in range(3):
        api.audience(hashes(2))
    params = {"advertiser_id": ADVERTISER, "page": "2", "page_size": "2"}
    data = api.call("GET", "/dmp/custom_audience/list/", params=params).json()["data"]
    assert data["page_info"] == {"page": 2, "page_size": 2, "total_number": 3, "total_page": 2}
    assert len(data["list"]) == 1


def test_file_paths_belong_to_their_advertiser(api: Api) -> None:
    api.admin("settings", LENIENT)
    path = api.file_path(hashes(2))
    reply = api.create([path], advertiser_id="7111111111111111111")
    assert reply.json()["code"] == 40007


def test_file_paths_expire_when_a_ttl_is_set(api: Api) -> None:
    api.admin("settings", {**LENIENT, "file_ttl_seconds": 60})
    path = api.file_path(hashes(2))
    api.advance(61)
    assert api.create([path]).json()["code"] == 40910
