"""The ``/event/track/`` body as a JSON Schema, written from docs/tiktok-api.md §3.1-§3.5.

One rule book, checked in native code (jsonschema-rs) so that the emulator keeps up with 1,000-event batches:

- top level (§3.1): ``event_source`` web/app/offline/crm, a non-empty ``event_source_id``, 1 to 1,000 events;
- each event (§3.2): ``event`` (offline: a standard event, §3.3), integer ``event_time`` in Unix seconds,
  string ``event_id``; crm events need a non-empty string ``lead.lead_id`` (§3.2: required for crm);
- ``user`` (§3.4): email, phone, external_id, first/last name and zip as lower-case SHA-256 hex (a string or a
  list of them); IDFA raw (upper case) or hashed, GAID raw (lower case) or hashed; ``att_status`` enum;
- ``properties`` (§3.5) and ``page``/``app``/``ad``/``lead``: known keys with their documented types, Segment's
  ``predicted_ltv`` (a number) and ``delivery_category`` (in_store, curbside, home_delivery) and the travel and
  vehicle fields included (§3.5: names and types from Segment's travel and vehicle fields, integer
  ``year`` and ``mileage.value``, the vehicle enumerations and the ``content_type`` values of TikTok's Travel and
  Automotive Ads pages; travel dates in the formats TikTok lists).

Unknown keys are allowed everywhere (TikTok's field lists grow); ``null`` is refused where a value goes.
JSON Schema counts ``1.0`` as an integer: ``events`` adds the check that ``event_time`` is a JSON integer.
"""

from __future__ import annotations

import re
from typing import Any, Final

import jsonschema_rs

from tikstream.emulator.formats import RAW_GAID, RAW_IDFA, SHA256_HEX

SOURCES: Final = ("web", "app", "offline", "crm")
MAX_EVENTS: Final = 1000
#: Unix seconds; from 10**10 on it is taken for milliseconds (an emulator strictness, not a TikTok rule).
MAX_EVENT_TIME: Final = 10**10
#: §3.3: offline takes standard events only: the current list plus the legacy names still in peers' presets.
OFFLINE_EVENTS: Final = (
    *("AddPaymentInfo", "AddToCart", "AddToWishlist", "ApplicationApproval", "CompleteRegistration"),
    *("Contact", "CustomizeProduct", "Download", "FindLocation", "InitiateCheckout", "Lead", "Purchase"),
    *("Schedule", "Search", "StartTrial", "SubmitApplication", "Subscribe", "ViewContent"),
    *("CompletePayment", "PlaceAnOrder", "SubmitForm", "ClickButton"),  # legacy names
)
ATT_STATUSES: Final = ("AUTHORIZED", "DENIED", "NOT_DETERMINED", "RESTRICTED", "NOT_APPLICABLE")
HASHED_USER_FIELDS: Final = ("email", "phone", "external_id", "first_name", "last_name", "zip_code")
STRING_USER_FIELDS: Final = (
    *("ttclid", "ttp", "ip", "user_agent", "locale", "idfv", "city", "state", "country", "lead_id"),
)
#: §3.5: product or product_group; hotel, flight and destination (travel catalogs), vehicle (automotive).
CONTENT_TYPES: Final = ("product", "product_group", "hotel", "flight", "destination", "vehicle")
#: §3.5 travel dates: YYYYMMDD, YYYY-MM-DD, YYYY-MM-DDThh:mmTZD or YYYY-MM-DDThh:mm:ssTZD.
DATE_PATTERN: Final = (
    r"^(?:[0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:Z|[+-][0-9]{2}:[0-9]{2}))?)$"
)
TRAVEL_DATES: Final = (
    "checkin_date", "checkout_date", "departing_departure_date", "returning_departure_date",
    "departing_arrival_date", "returning_arrival_date", "travel_start", "travel_end",
)


def _pattern(*shapes: re.Pattern[str]) -> dict[str, Any]:
    """A string matching one of ``shapes`` whole."""
    return {"type": "string", "pattern": f"^(?:{'|'.join(shape.pattern for shape in shapes)})$"}


STRING: Final = {"type": "string"}
NUMBER: Final = {"type": "number"}
INTEGER: Final = {"type": "integer"}
BOOLEAN: Final = {"type": "boolean"}
SHA256: Final = _pattern(SHA256_HEX)
#: A hash or a list of hashes: ``pattern`` binds strings only and ``items`` lists only (cheaper than anyOf).
HASHED: Final = {"type": ["string", "array"], "pattern": SHA256["pattern"], "items": SHA256}

USER: Final = {
    "type": "object",
    "properties": {
        **dict.fromkeys(HASHED_USER_FIELDS, HASHED),
        **dict.fromkeys(STRING_USER_FIELDS, STRING),
        "idfa": _pattern(SHA256_HEX, RAW_IDFA),
        "gaid": _pattern(SHA256_HEX, RAW_GAID),
        "att_status": {"enum": list(ATT_STATUSES)},
    },
}
CONTENT: Final = {
    "type": "object",
    "properties": {
        **dict.fromkeys(("content_id", "content_name", "content_category", "brand"), STRING),
        "price": NUMBER,
        "quantity": INTEGER,
    },
}
DATE: Final = {"type": "string", "pattern": DATE_PATTERN}
#: A string or a list of strings (Segment: "a single string value or an array of string values").
STRINGS: Final = {"type": ["string", "array"], "items": STRING}
TRAVEL: Final = {
    **dict.fromkeys(("city", "region", "country", "origin_airport", "destination_airport"), STRING),
    **dict.fromkeys(TRAVEL_DATES, DATE),
    **dict.fromkeys(("num_adults", "num_children", "num_infants", "user_score"), NUMBER),
    **dict.fromkeys(("suggested_hotels", "destination_ids", "suggested_destinations"), STRINGS),
    "travel_class": {"enum": ["eco", "prem", "bus", "first"]},
    "preferred_num_stops": INTEGER,
}
VEHICLE: Final = {
    **dict.fromkeys(("postal_code", "make", "model", "exterior_color", "interior_color", "trim"), STRING),
    **dict.fromkeys(("viewcontent_type", "search_type", "registration_type"), STRING),
    "year": INTEGER,
    "state_of_vehicle": {"enum": ["New", "Used", "CPO"]},
    "mileage": {"type": "object", "properties": {"value": INTEGER, "unit": {"enum": ["MI", "KM"]}}},
    "transmission": {"enum": ["Automatic", "Manual", "Other"]},
    "body_style": {"enum": ["Convertible", "Coupe", "Hatchback", "Minivan", "Truck", "SUV", "Sedan", "Van",
                            "Wagon", "Crossover", "Other"]},
    "fuel_type": {"enum": ["Diesel", "Electric", "Flex", "Gasoline", "Hybrid", "Other"]},
    "drivetrain": {"enum": ["AWD", "FOUR_WD", "FWD", "RWD", "TWO_WD", "Other"]},
    "condition_of_vehicle": {"enum": ["Excellent", "Good", "Fair", "Poor", "Other"]},
    "preferred_price_range": {"type": "array", "items": NUMBER, "minItems": 2, "maxItems": 2},
    "vin": {"type": "string", "maxLength": 17},
}
PROPERTIES: Final = {
    "type": "object",
    "properties": {
        **dict.fromkeys(("order_id", "shop_id", "description", "query", "search_string"), STRING),
        **dict.fromkeys(("content_name", "content_category"), STRING),
        "predicted_ltv": NUMBER,
        "delivery_category": {"enum": ["in_store", "curbside", "home_delivery"]},
        "contents": {"type": "array", "items": CONTENT},
        "content_ids": {"type": "array", "items": STRING},
        "content_type": {"enum": list(CONTENT_TYPES)},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "value": NUMBER,
        "num_items": INTEGER,
        **TRAVEL,
        **VEHICLE,
    },
}
SECTION: Final = {  # page, app, ad and lead
    "type": "object",
    "properties": {
        **dict.fromkeys(("url", "referrer", "app_id", "app_name", "app_version", "callback"), STRING),
        **dict.fromkeys(("campaign_id", "ad_id", "creative_id", "attribution_type"), STRING),
        **dict.fromkeys(("attribution_provider", "lead_id", "lead_event_source"), STRING),
        **dict.fromkeys(("is_retargeting", "attributed"), BOOLEAN),
    },
}
ITEM: Final = {
    "type": "object",
    "required": ["event", "event_time"],
    "properties": {
        "event": {"type": "string", "minLength": 1},
        "event_time": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": MAX_EVENT_TIME},
        "event_id": STRING,
        "user": USER,
        "properties": PROPERTIES,
        **dict.fromkeys(("page", "app", "ad", "lead"), SECTION),
        "limited_data_use": BOOLEAN,
    },
}


def _when_source(source: str, items: dict[str, Any]) -> dict[str, Any]:
    return {
        "if": {"properties": {"event_source": {"const": source}}},
        "then": {"properties": {"data": {"items": items}}},
    }


TRACK_SCHEMA: Final = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["event_source", "event_source_id", "data"],
    "properties": {
        "event_source": {"enum": list(SOURCES)},
        "event_source_id": {"type": "string", "minLength": 1},
        "test_event_code": STRING,
        "partner_name": STRING,
        "data": {"type": "array", "minItems": 1, "maxItems": MAX_EVENTS, "items": ITEM},
    },
    "allOf": [
        _when_source("offline", {"properties": {"event": {"enum": list(OFFLINE_EVENTS)}}}),
        _when_source("crm", {"required": ["lead"], "properties": {"lead": {
            "required": ["lead_id"], "properties": {"lead_id": {"type": "string", "minLength": 1}},
        }}}),
    ],
}
TRACK_VALIDATOR: Final = jsonschema_rs.validator_for(TRACK_SCHEMA)
