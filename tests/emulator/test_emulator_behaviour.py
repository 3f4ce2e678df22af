"""Stateful behaviour over real sockets: deduplication, membership, readiness, faults, the admin endpoints."""

from __future__ import annotations

import httpx
import pytest
from emu_api import ADVERTISER, PIXEL, Api, event, hashes, md5, sha
from emulator_proc import running_emulator

LENIENT = {"min_audience_size": 0, "audience_ready_seconds": 0}


def test_replayed_events_are_accepted_and_counted_as_duplicates(api: Api) -> None:
    batch = [event(i) for i in range(5)]
    assert api.track(batch).json()["code"] == 0
    assert api.track(batch).json()["code"] == 0
    assert api.track(batch, source_id="COTHERPIXEL").json()["code"] == 0  # the key includes the source id
    events = api.admin("state", events=1)["events"]
    assert (events["received"], events["duplicates"], events["unique"]) == (15, 5, 10)
    assert [e["duplicate"] for e in events["list"]] == [False] * 5 + [True] * 5 + [False] * 5
    assert events["list"][0]["source_id"] == PIXEL and events["list"][0]["event_id"] == "order-0"


def test_duplicates_expire_after_48_hours(api: Api) -> None:
    api.track([event(0)])
    api.advance(48 * 3600 + 1)
    api.track([event(0)])
    assert api.admin("state")["events"]["duplicates"] == 0


def test_events_without_event_id_are_never_duplicates(api: Api) -> None:
    item = event(0)
    del item["event_id"]
    api.track([item, item])
    assert api.admin("state")["events"]["duplicates"] == 0


def test_a_rejected_batch_keeps_nothing(api: Api) -> None:
    reply = api.track([event(0), event(1, event_id=1)])
    assert reply.json()["code"] == 40002
    assert api.admin("state")["events"]["received"] == 0


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


def test_throttled_request_changes_nothing(api: Api) -> None:
    api.admin("faults", {"throttle_rate": 1.0})
    reply = api.track([event(0)])
    assert (reply.status_code, reply.json()["code"]) == (200, 40100)
    assert reply.json()["message"] == "Too many requests. Please retry in some time."
    api.admin("faults", {"throttle_rate": 0.0})
    assert api.admin("state")["events"]["received"] == 0


def test_errors_alternate_http_500_and_code_50000(api: Api) -> None:
    api.admin("faults", {"error_rate": 1.0})
    first, second = api.track([event(0)]), api.track([event(1)])
    assert first.status_code == 500
    assert (second.status_code, second.json()["code"]) == (200, 50000)
    assert api.admin("state")["events"]["received"] == 0


def test_timeout_fault_hangs_past_the_client_timeout(api: Api) -> None:
    api.admin("faults", {"timeout_rate": 1.0, "timeout_seconds": 2.0})
    with pytest.raises(httpx.ReadTimeout):
        api.client.post(api.base + "/event/track/", json={}, headers={"Access-Token": "t"}, timeout=0.3)
    api.admin("faults", {"timeout_rate": 0.0})
    assert api.admin("state")["events"]["received"] == 0


def test_latency_is_added(api: Api) -> None:
    api.admin("faults", {"latency_ms": 150})
    reply = api.track([event(0)])
    assert reply.json()["code"] == 0
    assert reply.elapsed.total_seconds() >= 0.15


def test_bad_fault_settings_are_refused(api: Api) -> None:
    reply = api.client.post(f"{api.root}/_emulator/faults", json={"throttle_rate": 2})
    assert reply.status_code == 400
    reply = api.client.post(f"{api.root}/_emulator/faults", json={"throttle": 0.5})
    assert reply.status_code == 400


def test_request_log_and_counters(api: Api) -> None:
    api.track([event(i) for i in range(7)])
    api.track([event(0, event_id=1)])
    api.client.post(api.base + "/event/track", json={})
    log = api.admin("requests")["requests"]
    assert [(r["path"], r["code"], r["events"]) for r in log] == [
        ("/open_api/v1.3/event/track/", 0, 7),
        ("/open_api/v1.3/event/track/", 40002, 1),
        ("/open_api/v1.3/event/track", None, 0),
    ]
    assert api.admin("requests", since=log[1]["seq"])["requests"] == [log[2]]
    counters = api.admin("state")["requests"]
    assert counters["/open_api/v1.3/event/track/"] == {"ok": 1, "40002": 1}
    assert counters["/open_api/v1.3/event/track"] == {"http_404": 1}


def test_reset_returns_to_the_start(api: Api) -> None:
    api.admin("settings", LENIENT)
    api.audience(hashes(2))
    api.track([event(0)])
    api.admin("reset", {})
    state = api.admin("state")
    assert (state["audiences"], state["events"]["received"], state["files"]) == ([], 0, [])
    assert state["settings"]["rules"]["min_audience_size"] == 1000


def test_envelope_carries_a_request_id_and_tiktok_headers(api: Api) -> None:
    reply = api.track([event(0)])
    body = reply.json()
    assert set(body) == {"code", "message", "request_id", "data"}
    assert body["request_id"] and reply.headers["x-tt-logid"] == body["request_id"]


def test_oauth_redirect_carries_code_and_state(api: Api) -> None:
    params = {"app_id": "emulator-app", "redirect_uri": "http://127.0.0.1:9/cb?x=1", "state": "s-1"}
    reply = api.client.get(f"{api.root}/portal/auth", params=params, follow_redirects=False)
    query = httpx.URL(reply.headers["location"]).params
    assert reply.status_code == 302
    assert query["auth_code"] == query["code"] and query["state"] == "s-1" and query["x"] == "1"


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
