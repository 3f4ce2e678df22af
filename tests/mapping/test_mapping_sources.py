"""The mapper with the new mapping shapes: event_id from the record, constants, defaults, derived values,
page-URL parameters, one path feeding two fields, the vertical properties, policies and drop reasons."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from tikstream.jobs.models import parse_job
from tikstream.mapping.compile import EventMapper, compile_events_job, event_id
from tikstream.mapping.preview import preview
from tikstream.records import Trigger, decode

TS = 1_735_689_600


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def web(**overrides: Any) -> dict[str, Any]:
    return {"id": "web-job", "type": "web_events", "auth": "a", "audiences": ["aud"], "pixel_code": "C4ABCDEF",
            "event_name": "Purchase", "page_url_field": "user.page", "identifiers": {"user.email": "email"},
            **overrides}


def app(**overrides: Any) -> dict[str, Any]:
    return {"id": "app-job", "type": "app_events", "auth": "a", "audiences": ["aud"], "app_id": "7123456789",
            "app_name": "Example", "event_name": "InstallApp", "identifiers": {"user.gaid": "gaid"}, **overrides}


def mapper(doc: dict[str, Any]) -> EventMapper:
    return compile_events_job(parse_job(doc))  # type: ignore[arg-type]


def trig(user: dict[str, Any]) -> Trigger:
    return decode(orjson.dumps({"audience": "aud", "event": "enter", "user_id": "u-1", "ts": TS, "user": user}),
                  None)


def mapped(m: EventMapper, user: dict[str, Any]) -> dict[str, Any]:
    event = m(trig(user))
    assert event is not None
    return event


# -- a config of the original shape sends exactly what it sent before ------------------------------------------

LEGACY = web(
    id="web-purchase", audiences=["cart_abandoners"], event_time_field="user.last_order_at",
    page_url_field="user.last_page", page_referrer_field="user.referrer", default_phone_region="US",
    identifiers={"user.email": "email", "user.phone": "phone", "user_id": "external_id", "user.ip": "ip"},
    properties={"user.order_total": "value", "user.currency": "currency", "user.cart": "contents"},
)
LEGACY_RECORD = {
    "audience": "cart_abandoners", "event": "enter", "user_id": "u-42", "ts": "2026-11-24T10:15:00Z",
    "user": {"email": " ALICE_abc@gmail.com ", "phone": ["(+1)2133734253", "+1 555 555 0100"], "ip": "203.0.113.7",
             "order_total": "46.0", "currency": "usd", "cart": [{"id": 1077218, "name": "socks", "price": 8, "qty": 2}],
             "last_page": "https://shop.example/checkout?ttclid=E.C.P.x", "referrer": "https://shop.example/cart",
             "last_order_at": 1735689600},
}  # fmt: skip
# The bytes tikstream sent for LEGACY before mappings took sources (commit ddbac19), recomputed there.
LEGACY_BYTES = (
    b'{"event":"Purchase","event_time":1735689600,"event_id":"e954891b8b5c558f35239b2af5d0cd16","user":{"email":'
    b'["848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f"],"phone":["9f7ec22d72092cd3c0b58726ed9c2'
    b'd91b92e51a3f29837508fb2948bb22dd2fd"],"external_id":["16ec525b74b75626eb93ecad8acc749885fcf4e83c95b139342769a4'
    b'ab1828a3"],"ip":"203.0.113.7"},"properties":{"value":46.0,"currency":"USD","contents":[{"content_id":"107721'
    b'8","content_name":"socks","price":8,"quantity":2}]},"page":{"url":"https://shop.example/checkout?ttclid=E.C.'
    b'P.x","referrer":"https://shop.example/cart"},"limited_data_use":false}'
)


def test_an_original_config_with_phone_policy_valid_sends_the_same_bytes() -> None:
    m = mapper({**LEGACY, "phone_policy": "valid"})
    assert orjson.dumps(m(decode(orjson.dumps(LEGACY_RECORD), None))) == LEGACY_BYTES
    assert m.counts.take()[("phone", "invalid")] == 1
    assert m.counts.take_drops() == {("phone", "not_valid"): 1}


def test_the_new_default_keeps_the_possible_phone_and_changes_nothing_else() -> None:
    event = orjson.loads(LEGACY_BYTES)
    event["user"]["phone"].append(sha("+15555550100"))
    assert mapper(LEGACY)(decode(orjson.dumps(LEGACY_RECORD), None)) == event


def test_the_target_keyed_shape_sends_what_the_original_sends() -> None:
    flipped = {**LEGACY, "phone_policy": "valid",
               "identifiers": {v: k for k, v in LEGACY["identifiers"].items()},
               "properties": {v: k for k, v in LEGACY["properties"].items()}}
    assert orjson.dumps(mapper(flipped)(decode(orjson.dumps(LEGACY_RECORD), None))) == LEGACY_BYTES


# -- event_id -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param("order-1001", "order-1001", id="string"),
    pytest.param(" o-1 ", " o-1 ", id="string-as-is"),
    pytest.param(1001, "1001", id="int-as-string"),  # TikTok refuses a number (docs/tiktok-api.md §3.2)
    pytest.param(1001.0, "1001", id="integral-float"),
    pytest.param(10.5, "10.5", id="float"),
    pytest.param("", None, id="empty-derived"),
    pytest.param("   ", None, id="blank-derived"),
    pytest.param(None, None, id="null-derived"),
    pytest.param(True, None, id="bool-derived"),
    pytest.param({"id": 1}, None, id="object-derived"),
])  # fmt: skip
def test_event_id_from_a_field(raw: object, expected: str | None) -> None:
    m = mapper(web(event_id_field="user.order_id"))
    t = trig({"order_id": raw})
    event = m(t)
    assert event is not None
    assert event["event_id"] == (expected if expected is not None else event_id("web-job", t))
    assert m(t) == event  # a replay: the same id


def test_event_id_absent_field_is_the_derived_id() -> None:
    t = trig({})
    assert mapped(mapper(web(event_id_field="user.order_id")), {})["event_id"] == event_id("web-job", t)


# -- constants, defaults, one path for two fields ----------------------------------------------------------------


@pytest.mark.parametrize(("user", "expected"), [
    pytest.param({"cur": "gbp"}, "GBP", id="path-wins"),
    pytest.param({}, "EUR", id="absent-default"),
    pytest.param({"cur": None}, "EUR", id="null-default"),
    pytest.param({"cur": "  "}, "EUR", id="blank-default"),
])  # fmt: skip
def test_default(user: dict[str, Any], expected: str) -> None:
    m = mapper(web(properties={"currency": {"path": "user.cur", "default": "EUR"}}))
    assert mapped(m, user)["properties"] == {"currency": expected}


def test_constants_and_one_path_feeding_two_fields() -> None:
    m = mapper(web(identifiers={"user.email": "email", "country": {"const": "US"}},
                   properties={"content_type": {"const": "product"}, "query": "user.q", "search_string": "user.q"}))
    event = mapped(m, {"q": "running shoes"})
    assert event["user"]["country"] == "us"  # a constant is normalised like any value
    assert event["properties"] == {"content_type": "product", "query": "running shoes",
                                   "search_string": "running shoes"}


def test_an_identifier_default_is_normalised_and_counted() -> None:
    m = mapper(web(identifiers={"external_id": {"path": "user.xid", "default": "guest"}}))
    assert mapped(m, {})["user"] == {"external_id": [sha("guest")]}
    assert m.counts.take() == {("external_id", "hashed"): 1}


# -- derived values ----------------------------------------------------------------------------------------------

DERIVED = {"contents": "user.cart", "num_items": {"derive": "count"}, "value": {"derive": "sum_price_quantity"}}


@pytest.mark.parametrize(("cart", "num_items", "value"), [
    # RS-ads test/integrations/destinations/tiktok_ads/processor/data.ts, Test 0: value 46 for this cart
    pytest.param([{"price": 8, "quantity": 2}, {"price": 30, "quantity": 1}], 2, 46, id="rudderstack-cart"),
    pytest.param([{"price": 8.1, "qty": 3}], 1, 24.3, id="decimal-not-binary"),
    pytest.param([{"price": "8", "qty": "2"}, {"price": 1.5}], 2, 17.5, id="numeric-strings-and-no-quantity"),
    pytest.param([{"sku": "a"}], 1, None, id="no-price-no-value"),
    pytest.param([{"price": 2, "quantity": 1.5}], 1, None, id="fractional-quantity-no-value"),
    pytest.param({"price": 5, "quantity": 2}, 1, 10, id="one-item-object"),
    pytest.param([], 0, None, id="empty"),
    pytest.param("a cart", None, None, id="not-a-list"),
])  # fmt: skip
def test_derivations(cart: object, num_items: int | None, value: float | None) -> None:
    props = mapped(mapper(web(properties=DERIVED)), {"cart": cart})["properties"]
    assert props.get("num_items") == num_items
    assert props.get("value") == value
    if value is not None:
        assert type(props["value"]) is type(value)


def test_sum_quantity_and_derived_defaults() -> None:
    m = mapper(web(properties={"contents": "user.cart", "num_items": {"derive": "sum_quantity"},
                               "value": {"derive": "sum_price_quantity", "default": 0}}))
    assert mapped(m, {"cart": [{"qty": 2}, {"id": "x"}]})["properties"]["num_items"] == 3
    assert mapped(m, {"cart": [{"qty": 2}]})["properties"]["value"] == 0
    assert mapped(m, {})["properties"] == {"value": 0}


def test_derived_fields_come_after_the_mapped_ones() -> None:
    m = mapper(web(properties={"value": {"derive": "sum_price_quantity"}, "contents": "user.cart",
                               "currency": {"const": "USD"}}))
    assert list(mapped(m, {"cart": [{"price": 1}]})["properties"]) == ["contents", "currency", "value"]


# -- the page URL ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "expected"), [
    # docs/tiktok-api.md §6.5: the page URL carries the ttclid; SEG-conv utils.ts getUser: urlTtclid ?? ttclid
    pytest.param({"page": "https://shop.example/checkout?ttclid=E.C.P.xxxx", "tt": "field"}, "E.C.P.xxxx",
                 id="url-wins-over-field"),
    pytest.param({"page": "https://shop.example/checkout", "tt": "field"}, "field", id="field-when-no-param"),
    pytest.param({"page": "https://s.example/?ttclid=&ttclid=B&ttclid=C"}, "B", id="first-non-empty"),
    pytest.param({"page": "https://s.example/?x=1#ttclid=A"}, None, id="fragment-not-read"),
    pytest.param({"page": "https://s.example/?a=%20b&ttclid=E%2EC"}, "E.C", id="percent-decoded"),
    pytest.param({"page": 42}, None, id="url-not-a-string"),
    pytest.param({}, None, id="no-url"),
])  # fmt: skip
def test_url_param(user: dict[str, Any], expected: str | None) -> None:
    m = mapper(web(identifiers={"ttclid": {"url_param": "ttclid", "path": "user.tt"}}))
    assert mapped(m, user)["user"].get("ttclid") == expected


def test_url_param_with_default_and_for_a_property() -> None:
    m = mapper(web(identifiers={"ttp": {"url_param": "_ttp", "default": "none"}},
                   properties={"description": {"url_param": "utm_campaign"}}))
    event = mapped(m, {"page": "https://s.example/?utm_campaign=spring"})
    assert (event["user"], event["properties"]) == ({"ttp": "none"}, {"description": "spring"})


# -- vertical properties -----------------------------------------------------------------------------------------


def test_vehicle_and_travel_fields_are_shaped_by_kind() -> None:
    m = mapper(web(properties={
        "make": "user.make", "year": "user.year", "mileage.value": "user.km", "mileage.unit": {"const": "KM"},
        "preferred_price_range": "user.range", "vin": "user.vin", "state_of_vehicle": "user.state",
        "checkin_date": "user.in", "num_adults": "user.adults", "suggested_hotels": "user.hotels",
        "preferred_num_stops": "user.stops", "travel_class": {"const": "eco"},
    }))
    props = mapped(m, {"make": "Endomoto", "year": "2021", "km": 12000.0, "range": ["10000", 25000],
                       "vin": 123, "state": "used", "in": "2026-12-24", "adults": "2", "hotels": "h-1",
                       "stops": 0})["properties"]
    assert props == {
        "make": "Endomoto", "year": 2021, "mileage": {"value": 12000, "unit": "KM"},
        "preferred_price_range": [10000, 25000], "vin": "123", "state_of_vehicle": "used",
        "checkin_date": "2026-12-24", "num_adults": 2, "suggested_hotels": ["h-1"], "preferred_num_stops": 0,
        "travel_class": "eco",
    }  # an enumeration is sent as found ("used"): TikTok (or the emulator) refuses it, the event goes to the DLQ


# -- policies and drop reasons ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "raw", "kept", "reason"), [
    pytest.param("valid", "+1 555 555 0100", False, "not_valid", id="valid-drops-unknown-range"),
    pytest.param("possible", "+1 555 555 0100", True, None, id="possible-keeps-it"),
    pytest.param("possible", "+1 555 0100", False, "local_only", id="possible-not-local-only"),
    pytest.param("possible", "07400 123456", False, "no_country_code", id="trunk-zero-no-region"),
    pytest.param("e164", "12345678901234", True, None, id="e164-as-segment"),
    pytest.param("e164", "1234567890123456", False, "too_long", id="e164-over-15"),
    pytest.param("e164", "1-800-FLOWERS", False, "letters", id="e164-letters"),
])  # fmt: skip
def test_phone_policy_in_the_mapper(policy: str, raw: str, kept: bool, reason: str | None) -> None:
    m = mapper(web(identifiers={"user.phone": "phone"}, phone_policy=policy))
    assert ("phone" in mapped(m, {"phone": raw})["user"]) is kept
    assert m.counts.take_drops() == ({} if reason is None else {("phone", reason): 1})


@pytest.mark.parametrize(("policy", "raw", "kept", "reason"), [
    pytest.param("uuid", "6D92078A-8246-4BA4-AE5B-76104861E7DC", True, None, id="uuid"),
    pytest.param("uuid", "38400000-8cf0-11bd-b23e", False, "not_uuid", id="uuid-drops-short"),
    pytest.param("any", "38400000-8cf0-11bd-b23e", True, None, id="any-keeps-it"),
    pytest.param("any", "00000000-0000-0000-0000-000000000000", False, "zero_id", id="any-drops-zero"),
    pytest.param("uuid", True, False, "wrong_type", id="boolean"),
])  # fmt: skip
def test_device_id_policy(policy: str, raw: object, kept: bool, reason: str | None) -> None:
    m = mapper(app(device_id_policy=policy))
    user = mapped(m, {"gaid": raw})["user"]
    assert ("gaid" in user) is kept
    if kept:
        assert user["gaid"] == sha(str(raw).strip().lower())
    assert m.counts.take_drops() == ({} if reason is None else {("gaid", reason): 1})


def test_every_dropped_value_of_a_list_has_its_reason() -> None:
    m = mapper(web(identifiers={"user.emails": "email", "user.ip": "ip"}))
    mapped(m, {"emails": ["a@x.co", "nope", 7, "b@x.co"], "ip": "999.1.1.1"})
    assert m.counts.take_drops() == {("email", "malformed"): 1, ("email", "wrong_type"): 1, ("ip", "not_an_ip"): 1}
    assert m.counts.take_drops() == {}


def test_preview_shows_derived_values_origins_and_drop_reasons() -> None:
    job = parse_job(web(
        event_id_field="user.order_id", phone_policy="valid",
        identifiers={"user.email": "email", "phone": "user.phone", "ttclid": {"url_param": "ttclid"},
                     "country": {"path": "user.country", "default": "us"}},
        properties={**DERIVED, "currency": {"const": "EUR"}, "num_items": {"derive": "count", "default": 0}},
    ))
    shown = preview(job, trig({"email": "nope", "phone": "+1 555 555 0100", "order_id": "o-1",  # type: ignore[arg-type]
                               "page": "https://s.example/?ttclid=T1", "cart": [{"price": 4, "qty": 2}]}))
    assert shown.event is not None
    assert shown.event["properties"] == {"contents": [{"price": 4, "quantity": 2}], "currency": "EUR",
                                         "num_items": 1, "value": 8}
    assert shown.origins == {
        "user.email": "path user.email", "user.phone": "path user.phone", "user.ttclid": "url_param ttclid",
        "user.country": "default", "properties.contents": "path user.cart", "properties.num_items": "derive count",
        "properties.value": "derive sum_price_quantity", "properties.currency": "const",
    }
    assert shown.dropped == [("email", "malformed"), ("phone", "not_valid")]
    other = decode(b'{"audience":"other","event":"enter","user_id":"u","ts":1735689600}', None)
    assert preview(job, other).event is None  # type: ignore[arg-type]
