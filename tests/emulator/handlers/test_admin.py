"""``/_emulator/*`` over real sockets: the request log and counters, reset, and refused settings."""

from __future__ import annotations

from emu_api import LENIENT, PIXEL, Api, event, hashes


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


def test_unique_events_by_source_and_listing_since(api: Api) -> None:
    api.track([event(i) for i in range(3)])
    api.track([event(0), event(3)])  # event 0 again: a duplicate, not a new unique event
    api.track([event(9)], source_id="C4OTHER1")
    events = api.admin("state")["events"]
    assert events["unique_by_source"] == {PIXEL: 4, "C4OTHER1": 1}
    listed = api.admin("state", events=1)["events"]["list"]
    cut = listed[3]["received_at"]  # the second request's time
    newer = api.admin("state", events=1, since=cut - 1e-6)["events"]["list"]
    assert [e["event_id"] for e in newer] == [e["event_id"] for e in listed if e["received_at"] > cut - 1e-6]
    assert newer[-1]["event_id"] == "order-9" and "order-1" not in {e["event_id"] for e in newer}
    reply = api.client.get(f"{api.root}/_emulator/state", params={"events": 1, "since": "yesterday"})
    assert reply.status_code == 400 and "yesterday" in reply.text
