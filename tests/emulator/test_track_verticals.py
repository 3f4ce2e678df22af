"""The rule book and its fast path on the travel and vehicle properties, the widened ``content_type`` and the
``event_id`` string (docs/tiktok-api.md §3.2, §3.5): what they take, what they refuse in TikTok's words, and the
fast-path contract on bodies mutated at the new paths."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_track_decoder import _JSON, _body, _facts, _slow, _web

from tikstream.emulator import track_decoder
from tikstream.emulator.events import check_body
from tikstream.emulator.track_schema import PROPERTIES

TRAVEL = {
    "city": "Lisbon", "region": "Lisboa", "country": "PT", "checkin_date": "2026-12-24", "checkout_date": "20261227",
    "departing_departure_date": "2026-12-24T08:30+01:00", "returning_departure_date": "2026-12-27T19:05:00Z",
    "num_adults": 2, "num_children": 1, "num_infants": 0, "suggested_hotels": ["h-1", "h-2"],
    "origin_airport": "LHR", "destination_airport": "LIS", "destination_ids": "d-1", "travel_class": "eco",
    "user_score": 0.7, "preferred_num_stops": 0, "travel_start": "2026-12-24", "travel_end": "2026-12-27",
    "suggested_destinations": ["d-2"], "content_type": "hotel", "content_ids": ["h-1"],
}  # fmt: skip
VEHICLE = {
    "postal_code": "94112", "make": "Endomoto", "model": "EndoHatch", "year": 2015, "state_of_vehicle": "Used",
    "mileage": {"value": 12000, "unit": "KM"}, "exterior_color": "Black", "interior_color": "Grey",
    "transmission": "Automatic", "body_style": "SUV", "fuel_type": "Hybrid", "drivetrain": "FOUR_WD",
    "preferred_price_range": [10000, 25000.5], "trim": "5DR HB SE", "vin": "1FADP5AU6DL536022",
    "condition_of_vehicle": "Good", "viewcontent_type": "vdp", "search_type": "dealer", "registration_type": "x",
    "content_type": "vehicle",
}  # fmt: skip


@pytest.mark.parametrize("properties", [
    pytest.param(TRAVEL, id="travel"),
    pytest.param(VEHICLE, id="vehicle"),
    pytest.param({"content_type": "flight"}, id="content-type-flight"),
    pytest.param({"content_type": "destination"}, id="content-type-destination"),
    pytest.param({"mileage": {"unit": "MI"}}, id="mileage-unit-only"),
    pytest.param({"suggested_hotels": "h-1"}, id="one-string-for-a-list"),
    pytest.param({"predicted_ltv": 120.5, "delivery_category": "curbside", "content_name": "Socks",
                  "content_category": "Apparel"}, id="segment-shop-fields"),
])  # fmt: skip
def test_taken_by_both_paths(properties: dict[str, Any]) -> None:
    body = _body([_web(i, properties=properties) for i in range(3)])
    slow = _slow(body)
    assert slow.error is None, slow.error
    fast = track_decoder.decode(body)
    assert fast is not None and tuple(fast) == _facts(slow)


@pytest.mark.parametrize(("properties", "message"), [
    pytest.param({"year": 2015.5}, "data.0.properties.year: Not a valid integer", id="year-float"),
    pytest.param({"year": "2015"}, "data.0.properties.year: Not a valid integer", id="year-string"),
    pytest.param({"mileage": {"value": 1.5, "unit": "KM"}}, "data.0.properties.mileage.value: Not a valid integer",
                 id="mileage-float"),
    pytest.param({"mileage": {"value": 1, "unit": "km"}}, "data.0.properties.mileage.unit: Must be one of: MI, KM",
                 id="mileage-unit-case"),
    pytest.param({"mileage": 12000}, "data.0.properties.mileage: Not a valid mapping", id="mileage-number"),
    pytest.param({"state_of_vehicle": "used"}, "data.0.properties.state_of_vehicle: Must be one of: New, Used, CPO",
                 id="state-case"),
    pytest.param({"body_style": "Limo"}, "data.0.properties.body_style: Must be one of", id="body-style"),
    pytest.param({"preferred_price_range": [1]}, "data.0.properties.preferred_price_range: Length must be 2",
                 id="price-range-one"),
    pytest.param({"preferred_price_range": ["1", "2"]}, "preferred_price_range.0: Not a valid number",
                 id="price-range-strings"),
    pytest.param({"vin": "1FADP5AU6DL536022X"}, "data.0.properties.vin: Longer than 17 characters", id="vin-long"),
    pytest.param({"checkin_date": "24/12/2026"}, "data.0.properties.checkin_date: Not a valid date", id="date"),
    pytest.param({"travel_end": "2026-12-27T19:05"}, "data.0.properties.travel_end: Not a valid date",
                 id="datetime-without-zone"),
    pytest.param({"num_adults": "2"}, "data.0.properties.num_adults: Not a valid number", id="adults-string"),
    pytest.param({"preferred_num_stops": 0.5}, "preferred_num_stops: Not a valid integer", id="stops-float"),
    pytest.param({"travel_class": "economy"}, "data.0.properties.travel_class: Must be one of", id="class"),
    pytest.param({"suggested_hotels": [1]}, "data.0.properties.suggested_hotels.0: Not a valid string",
                 id="hotels-numbers"),
    pytest.param({"content_type": "car"}, "data.0.properties.content_type: Must be one of", id="content-type"),
    pytest.param({"city": None}, "data.0.properties.city: Field may not be null", id="null"),
    pytest.param({"predicted_ltv": "120"}, "data.0.properties.predicted_ltv: Not a valid number", id="ltv-string"),
    pytest.param({"delivery_category": "pickup"}, "data.0.properties.delivery_category: Must be one of: in_store, "
                 "curbside, home_delivery", id="delivery-category"),
    pytest.param({"content_name": 7}, "data.0.properties.content_name: Not a valid string", id="content-name"),
])  # fmt: skip
def test_refused_in_tiktoks_words(properties: dict[str, Any], message: str) -> None:
    body = _body([_web(0, properties=properties)])
    assert track_decoder.decode(body) is None
    checked = check_body(body)
    assert checked.error is not None and message in checked.error, checked.error
    assert checked == _slow(body)


def test_event_id_must_be_a_string() -> None:
    checked = check_body(_body([_web(0, event_id=1001)]))
    assert checked.error == "data.0.event_id: Not a valid string"
    assert check_body(_body([_web(0, event_id="1001")])).error is None


def test_the_schema_lists_every_vertical_field() -> None:
    assert set(TRAVEL) | set(VEHICLE) <= set(PROPERTIES["properties"])


_PATHS = [("properties", key) for key in (*TRAVEL, *VEHICLE)] + [
    ("properties", "mileage", "value"), ("properties", "mileage", "unit"), ("properties", "preferred_price_range"),
]
_LEAVES = st.one_of(_JSON, st.sampled_from(["2026-12-24", "20261224", "2026-12-24T08:30Z", "Used", "KM", "SUV",
                                            "hotel", "eco", 2015, 2015.0, [1, 2], ["a"], "x" * 18]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(_PATHS), _LEAVES), max_size=3))
def test_fast_path_never_accepts_what_the_rule_book_refuses_at_the_new_paths(
    edits: list[tuple[int, tuple[str, ...], Any]],
) -> None:
    events = [_web(i, properties={**TRAVEL, **VEHICLE}) for i in range(3)]
    for index, path, value in edits:
        target: Any = events[index]
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                target[key] = {}
            target = target[key]
        target[path[-1]] = value
    body = _body(events)
    fast, slow = track_decoder.decode(body), _slow(body)
    if fast is not None:
        assert slow.error is None, f"fast path accepted a body the rule book refuses: {slow.error}"
        assert tuple(fast) == _facts(slow)
    assert check_body(body) == slow
