"""Shaping ``properties`` values the way TikTok types each field, derived values, and page-URL parameters.

* Converters never drop a value: numbers stay numbers; ``value``/``price`` accept numeric strings,
  ``num_items``/``quantity`` integral numbers, ids and texts are sent as strings; ``contents`` maps a list of
  objects item by item (:data:`CONTENT_ALIASES`). A value of the wrong shape is sent as found, and TikTok's
  rejection sends the event to the DLQ. Which converter a field gets follows its kind in
  ``tikstream.jobs.targets`` (enumerations are sent as found).
* Derivations compute ``num_items`` and ``value`` from the event's (converted) ``contents``: ``count`` the
  items; ``sum_quantity`` their quantities, 1 where an item has none; ``sum_price_quantity`` price * quantity,
  in decimal arithmetic (``8.1 * 3`` is ``24.3``, not ``24.299999999999997``), an integer when whole. An item
  without a numeric price, or with a quantity that is not a whole number, gives no value (never a guess).
* ``url_param``: the first value of a query parameter of the page URL (as ``URLSearchParams.get`` does).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from tikstream.jobs.targets import PROPERTY_TARGETS

__all__ = ["CONTENT_ALIASES", "DERIVERS", "converter", "event_id_text", "text", "url_param"]

Converter = Callable[[object], object]

CONTENT_ALIASES: Final[Mapping[str, str]] = {
    "content_id": "content_id", "id": "content_id", "sku": "content_id", "product_id": "content_id",
    "content_name": "content_name", "name": "content_name", "title": "content_name",
    "content_category": "content_category", "category": "content_category",
    "content_type": "content_type", "brand": "brand",
    "price": "price", "quantity": "quantity", "qty": "quantity",
}  # fmt: skip
"""Item field of a ``contents`` list in the profile → TikTok ``contents[]`` field; other fields are left out."""


def as_is(value: object) -> object:
    return value


def text(value: object) -> object:
    """Strings as they are; numbers (not booleans) in decimal; anything else unchanged."""
    kind = type(value)
    if kind is str:
        return value
    if kind is int:
        return str(value)
    if kind is float:
        f: float = value  # type: ignore[assignment]
        return str(int(f)) if f.is_integer() else repr(f)
    return value


def number(value: object) -> object:
    """Numbers as they are; a numeric string (ASCII, finite) as an int or a float; anything else unchanged."""
    if type(value) is not str:
        return value
    stripped = value.strip()
    if not stripped.isascii() or "_" in stripped:
        return value
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        parsed = float(stripped)
    except ValueError:
        return value
    return parsed if math.isfinite(parsed) else value


def integer(value: object) -> object:
    """Integers as they are; an integral float or a string of ASCII digits as an int; else unchanged."""
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is str and value.strip().isdigit() and value.isascii():
        return int(value)
    return value


def currency(value: object) -> object:
    return value.strip().upper() if type(value) is str else value


def text_list(value: object) -> object:
    if type(value) is list:
        return [text(v) for v in value]
    return [text(value)]


def number_list(value: object) -> object:
    return [number(v) for v in value] if type(value) is list else value


_CONTENT_CONVERTERS: Final[dict[str, Converter]] = {
    "content_id": text, "content_name": text, "content_category": text, "brand": text,
    "price": number, "quantity": integer,
}  # fmt: skip


def _content(item: object) -> object:
    if type(item) is not dict:
        return item
    out: dict[str, object] = {}
    for key, raw in item.items():
        field = CONTENT_ALIASES.get(key)
        if field is not None and raw is not None and field not in out:
            out[field] = _CONTENT_CONVERTERS.get(field, as_is)(raw)
    return out


def contents(value: object) -> object:
    if type(value) is dict:
        return [_content(value)]
    if type(value) is list:
        return [_content(item) for item in value]
    return value


_BY_KIND: Final[dict[str, Converter]] = {
    "Number": number, "Integer": integer, "String": text, "Date": text, "Vin": text, "Currency": currency,
    "Strings": text_list, "Contents": contents, "PriceRange": number_list,
}  # fmt: skip


def converter(target: str) -> Converter:
    """The converter of a ``properties`` target (by its kind; enumerations and unknown kinds as found)."""
    return _BY_KIND.get(PROPERTY_TARGETS[target].name, as_is)


# -- derivations ------------------------------------------------------------------------------------------


def _items(value: object) -> list[dict[str, Any]] | None:
    if type(value) is not list or not all(type(item) is dict for item in value):
        return None
    return value


def _quantity(item: dict[str, Any]) -> int | None:
    quantity = item.get("quantity", 1)
    return quantity if type(quantity) is int else None


def count(value: object) -> int | None:
    items = _items(value)
    return None if items is None else len(items)


def sum_quantity(value: object) -> int | None:
    items = _items(value)
    if items is None:
        return None
    quantities = [_quantity(item) for item in items]
    return None if None in quantities else sum(q for q in quantities if q is not None)


def sum_price_quantity(value: object) -> int | float | None:
    items = _items(value)
    if not items:
        return None
    total = Decimal(0)
    for item in items:
        price, quantity = item.get("price"), _quantity(item)
        if type(price) not in (int, float) or quantity is None or not math.isfinite(price):  # type: ignore[arg-type]
            return None
        total += Decimal(repr(price)) * quantity
    return int(total) if total == total.to_integral_value() else float(total)


DERIVERS: Final[dict[str, Callable[[object], object]]] = {
    "count": count, "sum_quantity": sum_quantity, "sum_price_quantity": sum_price_quantity,
}


# -- the page URL and the event id ----------------------------------------------------------------------


def url_param(url: object, name: str) -> str | None:
    """The first non-empty value of the query parameter ``name`` of ``url``, or None."""
    if type(url) is not str or name + "=" not in url:
        return None
    try:
        query = urlsplit(url).query
    except ValueError:
        return None
    for key, found in parse_qsl(query):
        if key == name and found:
            return found
    return None


def event_id_text(raw: object) -> str | None:
    """The ``event_id`` given by a record: a non-blank string as it is, a number in decimal; else None."""
    if isinstance(raw, str):
        return raw if raw.strip() else None
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float) and math.isfinite(raw):
        return str(int(raw)) if raw.is_integer() else repr(raw)
    return None
