"""Tables for tikstream.mapping.compile: a job version compiled into trigger → Events API 2.0 item."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from tikstream.jobs.models import parse_job
from tikstream.mapping.compile import EventMapper, compile_events_job, event_id
from tikstream.records import Trigger, decode

EMAIL_848 = "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f"
PHONE_9F7 = "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd"
USER_80F = "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b"
TS = 1_735_689_600


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def web_job(**overrides: Any) -> EventMapper:
    job = {"id": "web-job", "type": "web_events", "auth": "a", "audiences": ["aud"], "triggers": ["enter", "exit"],
           "pixel_code": "C4ABCDEF", "event_name": "Purchase", "page_url_field": "user.page",
           "identifiers": {"user.email": "email"}, **overrides}
    return compile_events_job(parse_job(job))  # type: ignore[arg-type]


def app_job(**overrides: Any) -> EventMapper:
    job = {"id": "app-job", "type": "app_events", "auth": "a", "audiences": ["aud"], "app_id": "7123456789",
           "app_name": "Example", "event_name": "InstallApp", "identifiers": {"user.gaid": "gaid"}, **overrides}
    return compile_events_job(parse_job(job))  # type: ignore[arg-type]


def trig(user: dict[str, Any] | None = None, **top: Any) -> Trigger:
    doc = {"audience": "aud", "event": "enter", "user_id": "u-1", "ts": TS, **top}
    if user is not None:
        doc["user"] = user
    return decode(orjson.dumps(doc), None)


def mapped(mapper: EventMapper, user: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    event = mapper(trig(user, **top))
    assert event is not None
    return event


# -- TikTok's vectors in a built event (docs/tiktok-api.md §6.5) ---------------------------------------------------


def test_tiktok_hash_vectors_come_out_in_the_built_event() -> None:
    mapper = web_job(identifiers={"user.email": "email", "user.phone": "phone", "user.xid": "external_id"})
    event = mapped(mapper, {"email": " ALICE_abc@gmail.com ", "phone": "(+1)2133734253", "xid": "user_123"})
    assert event["user"] == {"email": [EMAIL_848], "phone": [PHONE_9F7], "external_id": [USER_80F]}


# -- every user field ---------------------------------------------------------------------------------------

UUID = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


@pytest.mark.parametrize(("field", "raw", "expected"), [
    pytest.param("email", "Bob@Example.COM", [sha("bob@example.com")], id="email-lowercased-hashed"),
    pytest.param("phone", "+44 20 7946 0958", [sha("+442079460958")], id="phone-e164-hashed"),
    pytest.param("phone", 12133734253, [PHONE_9F7], id="phone-as-number"),
    pytest.param("external_id", "User_1", [sha("User_1")], id="external-id-case-kept"),
    pytest.param("external_id", 0, [sha("0")], id="external-id-zero-is-a-value"),
    pytest.param("first_name", "Zoë-Anne", sha("zoëanne"), id="first-name"),
    pytest.param("last_name", "O'Brien", sha("obrien"), id="last-name"),
    pytest.param("zip_code", "94 103-1", sha("941031"), id="zip"),
    pytest.param("city", "San Francisco", "sanfrancisco", id="city-plain"),
    pytest.param("state", "CA", "ca", id="state-plain"),
    pytest.param("country", "US", "us", id="country-plain"),
    pytest.param("ip", "203.0.113.7", "203.0.113.7", id="ip-plain"),
    pytest.param("user_agent", "Mozilla/5.0", "Mozilla/5.0", id="user-agent-plain"),
    pytest.param("locale", "en-US", "en-US", id="locale"),
    pytest.param("ttclid", "E.C.P.abc", "E.C.P.abc", id="ttclid"),
    pytest.param("ttp", "2F7h37", "2F7h37", id="ttp"),
])
def test_web_user_fields(field: str, raw: Any, expected: Any) -> None:
    mapper = web_job(identifiers={"user.v": field}, default_phone_region="US")
    assert mapped(mapper, {"v": raw})["user"] == {field: expected}


@pytest.mark.parametrize(("field", "raw", "expected"), [
    pytest.param("idfa", UUID.upper(), sha(UUID), id="idfa-hashed-lowercase"),
    pytest.param("gaid", UUID, sha(UUID), id="gaid-hashed"),
    pytest.param("idfv", "ABC-1", "ABC-1", id="idfv-plain"),
    pytest.param("att_status", "authorized", "AUTHORIZED", id="att-status"),
])
def test_app_user_fields(field: str, raw: Any, expected: Any) -> None:
    assert mapped(app_job(identifiers={"user.v": field}), {"v": raw})["user"] == {field: expected}


def test_array_fields_take_lists_and_leave_out_duplicates_and_bad_values() -> None:
    mapper = web_job(identifiers={"user.emails": "email", "user.phones": "phone"})
    event = mapped(mapper, {"emails": ["a@x.com", "A@X.com ", "nope", None], "phones": ["(+1)2133734253", "12"]})
    assert event["user"] == {"email": [sha("a@x.com")], "phone": [PHONE_9F7]}
    assert mapper.counts.take() == {("email", "hashed"): 2, ("email", "invalid"): 1, ("email", "missing"): 1,
                                    ("phone", "hashed"): 1, ("phone", "invalid"): 1}


def test_a_phone_that_cannot_be_e164_is_left_out_and_counted_invalid() -> None:
    mapper = web_job(identifiers={"user.email": "email", "user.phone": "phone"})
    event = mapped(mapper, {"email": "a@x.com", "phone": "0123 not a phone"})
    assert "phone" not in event["user"] and event["user"]["email"] == [sha("a@x.com")]
    assert mapper.counts.take()[("phone", "invalid")] == 1


def test_prehashed_values_pass_through_lowercased_and_are_counted() -> None:
    mapper = web_job(identifiers={"user.email": "email", "user.phone": "phone"})
    event = mapped(mapper, {"email": EMAIL_848.upper(), "phone": f" {PHONE_9F7} "})
    assert event["user"] == {"email": [EMAIL_848], "phone": [PHONE_9F7]}
    assert mapper.counts.take() == {("email", "prehashed"): 1, ("phone", "prehashed"): 1}


def test_missing_identifiers_are_counted_and_leave_an_empty_user() -> None:
    mapper = web_job(identifiers={"user.email": "email", "user.ip": "ip"})
    assert mapped(mapper, {})["user"] == {}
    assert mapped(mapper)["user"] == {}
    assert mapper.counts.take() == {("email", "missing"): 2, ("ip", "missing"): 2}


def test_counts_are_taken_once() -> None:
    mapper = web_job()
    for _ in range(3):
        mapped(mapper, {"email": "a@x.com"})
    mapper.counts.compact()
    mapped(mapper, {"email": "b@x.com"})
    assert mapper.counts.take() == {("email", "hashed"): 4}
    assert mapper.counts.take() == {}


# -- properties ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "raw", "expected"), [
    pytest.param("value", 0, 0, id="value-zero-kept"),
    pytest.param("value", 0.0, 0.0, id="value-zero-float-kept"),
    pytest.param("value", 46.5, 46.5, id="value-number"),
    pytest.param("value", "46.50", 46.5, id="value-numeric-string"),
    pytest.param("value", False, False, id="false-is-a-value"),
    pytest.param("num_items", 3.0, 3, id="num-items-integral"),
    pytest.param("num_items", "2", 2, id="num-items-string"),
    pytest.param("currency", " usd ", "USD", id="currency"),
    pytest.param("order_id", 1001, "1001", id="order-id-string"),
    pytest.param("content_ids", [1, "b"], ["1", "b"], id="content-ids-strings"),
    pytest.param("content_ids", "sku-1", ["sku-1"], id="content-ids-scalar"),
    pytest.param("content_type", "product", "product", id="content-type"),
    pytest.param("description", "", "", id="empty-string-kept"),
])
def test_properties(field: str, raw: Any, expected: Any) -> None:
    event = mapped(web_job(properties={"user.p": field}), {"p": raw})
    assert event["properties"] == {field: expected}
    assert type(event["properties"][field]) is type(expected)


def test_missing_or_null_properties_are_left_out() -> None:
    mapper = web_job(properties={"user.total": "value", "user.cur": "currency"})
    assert "properties" not in mapped(mapper, {"total": None})
    assert mapped(mapper, {"cur": "EUR"})["properties"] == {"currency": "EUR"}


def test_contents_from_a_list_of_objects() -> None:
    cart = [{"id": 1077218, "name": "socks", "price": "8", "quantity": 2.0, "colour": "red"},
            {"content_id": "A", "content_category": "shoes", "brand": "X", "price": 0, "qty": 1}]
    event = mapped(web_job(properties={"user.cart": "contents"}), {"cart": cart})
    assert event["properties"]["contents"] == [
        {"content_id": "1077218", "content_name": "socks", "price": 8, "quantity": 2},
        {"content_id": "A", "content_category": "shoes", "brand": "X", "price": 0, "quantity": 1},
    ]


# -- the item around them -------------------------------------------------------------------------------------


def test_a_full_web_item() -> None:
    mapper = web_job(page_referrer_field="user.ref", properties={"user.total": "value"}, limited_data_use=True)
    event = mapped(mapper, {"email": "a@x.com", "page": "https://shop.example/c?ttclid=1", "ref": "https://r",
                            "total": 46.0})
    assert event == {
        "event": "Purchase", "event_time": TS, "event_id": event_id("web-job", trig()),
        "user": {"email": [sha("a@x.com")]}, "properties": {"value": 46.0},
        "page": {"url": "https://shop.example/c?ttclid=1", "referrer": "https://r"}, "limited_data_use": True,
    }


def test_an_app_item_has_app_and_no_page() -> None:
    mapper = app_job(store_app_id="com.example.app", app_version_field="user.v")
    event = mapped(mapper, {"gaid": UUID, "v": 12})
    assert event["app"] == {"app_name": "Example", "app_id": "com.example.app", "app_version": "12"}
    assert "page" not in event and event["limited_data_use"] is False


def test_an_offline_item_has_neither_page_nor_app_nor_ldu_unless_asked() -> None:
    job = {"id": "off", "type": "offline_events", "auth": "a", "audiences": ["aud"], "event_set_id": "16",
           "event_name": "Purchase", "identifiers": {"user.email": "email"}}
    event = mapped(compile_events_job(parse_job(job)), {"email": "a@x.com"})  # type: ignore[arg-type]
    assert set(event) == {"event", "event_time", "event_id", "user"}


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param("2026-11-24T10:15:00Z", 1795515300, id="rfc3339"),
    pytest.param("2026-11-24T11:15:00+01:00", 1795515300, id="rfc3339-offset"),
    pytest.param(1795515300, 1795515300, id="epoch-seconds"),
    pytest.param(1795515300999, 1795515300, id="epoch-ms"),
    pytest.param(1795515300.7, 1795515300, id="fraction-dropped"),
    pytest.param("yesterday", TS, id="unreadable-falls-back"),
    pytest.param(None, TS, id="missing-falls-back"),
    pytest.param(True, TS, id="boolean-falls-back"),
])
def test_event_time_is_integer_unix_seconds(raw: Any, expected: int) -> None:
    event = mapped(web_job(event_time_field="user.at"), {"at": raw})
    assert event["event_time"] == expected and type(event["event_time"]) is int


def test_event_time_defaults_to_the_trigger_time() -> None:
    t = decode(orjson.dumps({"audience": "aud", "event": "enter", "user_id": "u"}), 1_800_000_000_500)
    event = web_job()(t)
    assert event is not None and event["event_time"] == 1_800_000_000


@pytest.mark.parametrize(("triggers", "audience", "event", "wanted"), [
    pytest.param(["enter"], "aud", "enter", True, id="enter-wanted"),
    pytest.param(["enter"], "aud", "exit", False, id="exit-filtered"),
    pytest.param(["exit"], "aud", "exit", True, id="exit-wanted"),
    pytest.param(["enter", "exit"], "other", "enter", False, id="other-audience"),
])
def test_enter_exit_filter(triggers: list[str], audience: str, event: str, wanted: bool) -> None:
    mapper = web_job(triggers=triggers)
    assert (mapper(trig(audience=audience, event=event)) is not None) is wanted


# -- event_id ----------------------------------------------------------------------------------------------------


def test_event_id_is_a_string_stable_across_replays_and_versions() -> None:
    raw = orjson.dumps({"audience": "aud", "event": "enter", "user_id": "alice@example.com", "ts": TS})
    first, replay = decode(raw, None), decode(raw, 999)
    v1 = web_job()(first)
    v2 = web_job(event_name="Lead", identifiers={"user.phone": "phone"})(replay)
    assert v1 is not None and v2 is not None
    assert isinstance(v1["event_id"], str) and len(v1["event_id"]) == 32
    assert v1["event_id"] == v2["event_id"] == event_id("web-job", first)
    assert "alice" not in v1["event_id"]


@pytest.mark.parametrize("change", [
    pytest.param({"audience": "aud2"}, id="audience"),
    pytest.param({"event": "exit"}, id="enter-exit"),
    pytest.param({"user_id": "u-2"}, id="user"),
    pytest.param({"ts": TS + 1}, id="time"),
])
def test_event_id_differs_for_a_different_trigger(change: dict[str, Any]) -> None:
    base = {"audience": "aud", "event": "enter", "user_id": "u-1", "ts": TS}
    one = decode(orjson.dumps(base), None)
    other = decode(orjson.dumps({**base, **change}), None)
    assert event_id("job", one) != event_id("job", other)
    assert event_id("job", one) != event_id("job2", one)
