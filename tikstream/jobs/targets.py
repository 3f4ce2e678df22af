"""Mapping targets: the TikTok ``user`` and ``properties`` fields a job can fill, and the kind of value each takes.

A kind checks a constant or default written in a job config (``jobs validate`` names the value and says what is
wrong) and gives its JSON Schema; values read from records are shaped by ``tikstream.mapping`` and refereed by
TikTok (or the emulator). Sources, in brackets in the tables:

* the Events API 2.0 ``properties`` of docs/tiktok-api.md §3.5 (bububa, SEG-conv, RS-ads, STAPE);
* travel fields: Segment's ``tiktok-conversions/reportWebEvent/fields/travel_fields.ts`` and ``utils.ts``
  (SEG-conv), names and types as Segment sends them; TikTok's help centre "Available events and parameters for
  Travel Ads" (Sept 2025) adds the ``content_type`` values ``hotel``, ``flight`` and ``destination``;
* vehicle fields: Segment's ``vehicle_fields.ts`` and ``utils.ts`` (SEG-conv), with the types of TikTok's help
  centre "Available parameters for Automotive Ads" (April 2025): ``year`` and ``mileage.value`` integers,
  ``state_of_vehicle`` New / Used / CPO, ``content_type`` ``vehicle``. TikTok sends the mileage as one object,
  ``mileage: {value, unit}``, and the price range as ``preferred_price_range: [min, max]`` (Segment).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "APP_USER_TARGETS",
    "CONTENT_KEYS",
    "CONTENT_TYPES",
    "DATE_PATTERN",
    "DERIVATIONS",
    "OFFLINE_USER_TARGETS",
    "PROPERTY_TARGETS",
    "TRAVEL_PROPERTIES",
    "VEHICLE_PROPERTIES",
    "WEB_USER_TARGETS",
    "Kind",
]


@dataclass(frozen=True)
class Kind:
    """What a target takes: ``name`` names it in the JSON Schema's ``$defs``, ``words`` in messages, ``schema``
    is its JSON Schema, ``problem`` checks a value."""

    name: str
    words: str
    schema: Mapping[str, Any]
    check: Callable[[object], bool]
    values: tuple[str, ...] = field(default=())

    def problem(self, value: object) -> str | None:
        """Why ``value`` (a constant or default of a job config) does not fit, or None."""
        if self.check(value):
            return None
        return f"{shown(value)} is not {self.words}"


def shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_str(value: object) -> bool:
    return type(value) is str and value.strip() != ""


def _is_number(value: object) -> bool:
    return type(value) in (int, float) and math.isfinite(value)  # type: ignore[arg-type]


def _is_integer(value: object) -> bool:
    return type(value) is int


def _pattern(regex: str) -> Callable[[object], bool]:
    match = re.compile(regex[1:-1]).fullmatch
    return lambda value: type(value) is str and match(value) is not None


def _enum(name: str, *values: str) -> Kind:
    listed = ", ".join(repr(v) for v in values)
    return Kind(name, f"one of {listed}", {"enum": list(values)}, lambda value: value in values, values)


STRING: Final = Kind("String", "a non-empty string", {"type": "string", "minLength": 1}, _is_str)
NUMBER: Final = Kind("Number", "a number", {"type": "number"}, _is_number)
INTEGER: Final = Kind("Integer", "an integer", {"type": "integer"}, _is_integer)
CURRENCY_PATTERN: Final = r"^[A-Z]{3}$"
CURRENCY: Final = Kind(
    "Currency", "an ISO 4217 currency code such as 'USD' (3 uppercase letters)",
    {"type": "string", "pattern": CURRENCY_PATTERN},
    _pattern(CURRENCY_PATTERN),
)
DATE_PATTERN: Final = (
    r"^(?:[0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}(?::[0-9]{2})?(?:Z|[+-][0-9]{2}:[0-9]{2}))?)$"
)
"""The date formats TikTok accepts for travel dates (SEG-conv, quoting TikTok): YYYYMMDD, YYYY-MM-DD,
YYYY-MM-DDThh:mmTZD and YYYY-MM-DDThh:mm:ssTZD."""
DATE: Final = Kind(
    "Date", "a date as YYYYMMDD, YYYY-MM-DD, YYYY-MM-DDThh:mmTZD or YYYY-MM-DDThh:mm:ssTZD",
    {"type": "string", "pattern": DATE_PATTERN},
    _pattern(DATE_PATTERN),
)
STRINGS: Final = Kind(
    "Strings", "a string or a list of strings",
    {"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
    lambda value: _is_str(value) or (type(value) is list and bool(value) and all(map(_is_str, value))),
)
PRICE_RANGE: Final = Kind(
    "PriceRange", "a list of two numbers, [min, max]",
    {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
    lambda value: type(value) is list and len(value) == 2 and all(map(_is_number, value)),
)
IDENTIFIER: Final = Kind("Identifier", "a non-empty string", {"type": "string", "minLength": 1}, _is_str)
IDENTIFIER_OR_NUMBER: Final = Kind(
    "IdentifierOrNumber", "a non-empty string or a whole number",
    {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer", "minimum": 0}]},
    lambda value: _is_str(value) or (type(value) is int and value >= 0),
)

CONTENT_KEYS: Final[Mapping[str, Kind]] = {
    "content_id": STRING, "content_name": STRING, "content_category": STRING, "brand": STRING,
    "price": NUMBER, "quantity": INTEGER,
}  # fmt: skip
"""The fields of a ``contents[]`` item (docs/tiktok-api.md §3.5)."""


def _is_contents(value: object) -> bool:
    if type(value) is not list or not value:
        return False
    return all(
        type(item) is dict and item and all(k in CONTENT_KEYS and CONTENT_KEYS[k].check(v) for k, v in item.items())
        for item in value
    )


CONTENTS: Final = Kind(
    "Contents", "a list of content objects with " + ", ".join(CONTENT_KEYS),
    {"type": "array", "minItems": 1, "items": {
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "properties": {k: dict(v.schema) for k, v in CONTENT_KEYS.items()},
    }},
    _is_contents,
)  # fmt: skip

CONTENT_TYPES: Final = ("product", "product_group", "hotel", "flight", "destination", "vehicle")
"""``content_type``: product or product_group (§3.5); hotel, flight, destination for travel catalogs and vehicle
for automotive ones (TikTok help centre, see the module docstring)."""

_SHOP: Final[dict[str, Kind]] = {
    "value": NUMBER, "currency": CURRENCY, "content_type": _enum("ContentType", *CONTENT_TYPES),
    "contents": CONTENTS, "content_ids": STRINGS, "content_name": STRING, "content_category": STRING,
    "num_items": INTEGER, "order_id": STRING, "shop_id": STRING, "query": STRING, "search_string": STRING,
    "description": STRING, "predicted_ltv": NUMBER,
    "delivery_category": _enum("DeliveryCategory", "in_store", "curbside", "home_delivery"),
}  # fmt: skip
TRAVEL_PROPERTIES: Final[dict[str, Kind]] = {
    "city": STRING, "region": STRING, "country": STRING, "checkin_date": DATE, "checkout_date": DATE,
    "num_adults": NUMBER, "num_children": NUMBER, "num_infants": NUMBER, "suggested_hotels": STRINGS,
    "departing_departure_date": DATE, "returning_departure_date": DATE, "origin_airport": STRING,
    "destination_airport": STRING, "destination_ids": STRINGS, "departing_arrival_date": DATE,
    "returning_arrival_date": DATE, "travel_class": _enum("TravelClass", "eco", "prem", "bus", "first"),
    "user_score": NUMBER, "preferred_num_stops": INTEGER, "travel_start": DATE, "travel_end": DATE,
    "suggested_destinations": STRINGS,
}  # fmt: skip
"""Travel (hotel and flight) properties (SEG-conv ``travel_fields.ts``)."""
VEHICLE_PROPERTIES: Final[dict[str, Kind]] = {
    "postal_code": STRING, "make": STRING, "model": STRING, "year": INTEGER,
    "state_of_vehicle": _enum("StateOfVehicle", "New", "Used", "CPO"),
    "mileage.value": INTEGER, "mileage.unit": _enum("MileageUnit", "MI", "KM"),
    "exterior_color": STRING, "interior_color": STRING,
    "transmission": _enum("Transmission", "Automatic", "Manual", "Other"),
    "body_style": _enum("BodyStyle", "Convertible", "Coupe", "Hatchback", "Minivan", "Truck", "SUV", "Sedan",
                        "Van", "Wagon", "Crossover", "Other"),
    "fuel_type": _enum("FuelType", "Diesel", "Electric", "Flex", "Gasoline", "Hybrid", "Other"),
    "drivetrain": _enum("Drivetrain", "AWD", "FOUR_WD", "FWD", "RWD", "TWO_WD", "Other"),
    "preferred_price_range": PRICE_RANGE, "trim": STRING,
    "vin": Kind("Vin", "a string of 1 to 17 characters (a VIN)", {"type": "string", "minLength": 1, "maxLength": 17},
                lambda value: _is_str(value) and len(value) <= 17),  # type: ignore[arg-type]
    "condition_of_vehicle": _enum("VehicleCondition", "Excellent", "Good", "Fair", "Poor", "Other"),
    "viewcontent_type": STRING, "search_type": STRING, "registration_type": STRING,
}  # fmt: skip
"""Automotive properties (SEG-conv ``vehicle_fields.ts``; types from TikTok's Automotive Ads page).
``mileage.value`` and ``mileage.unit`` are sent together as ``mileage: {value, unit}``."""
PROPERTY_TARGETS: Final[dict[str, Kind]] = {
    **_SHOP, **{k: v for k, v in TRAVEL_PROPERTIES.items() if k not in _SHOP}, **VEHICLE_PROPERTIES,
}
"""Every ``properties`` target, in the order the job reference lists them."""

DERIVATIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "count": ("num_items",),
    "sum_quantity": ("num_items",),
    "sum_price_quantity": ("value",),
}
"""``derive`` → the targets it can fill, computed from the event's ``contents``: ``count`` the items,
``sum_quantity`` their quantities (1 where absent), ``sum_price_quantity`` price * quantity over the items."""

_COMMON_USER: Final = ("email", "phone", "external_id", "ip", "user_agent", "locale",
                       "first_name", "last_name", "zip_code", "city", "state", "country")


def _user_kinds(*names: str) -> dict[str, Kind]:
    numeric = {"phone", "zip_code", "external_id"}
    return {name: IDENTIFIER_OR_NUMBER if name in numeric else IDENTIFIER for name in names}


WEB_USER_TARGETS: Final = _user_kinds(*_COMMON_USER, "ttclid", "ttp")
APP_USER_TARGETS: Final = _user_kinds(*_COMMON_USER, "idfa", "gaid", "idfv", "att_status")
OFFLINE_USER_TARGETS: Final = _user_kinds(*_COMMON_USER)
"""``user`` targets per source, as ``tikstream.jobs.fields`` lists them (docs/tiktok-api.md §3.4)."""
