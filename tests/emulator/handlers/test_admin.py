"""``/_emulator/*`` over real sockets: the request log and counters, reset, and refused settings."""

from __future__ import annotations

from emu_api import LENIENT, Api, event, hashes


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
