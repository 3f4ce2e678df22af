"""The mapping shapes of events jobs (tikstream.jobs.sources): what parses, what is refused and in which words,
and the JSON Schema agreeing with the models on every row."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from tikstream import schemas
from tikstream.errors import JobConfigError
from tikstream.jobs import AppEventsJob, WebEventsJob, job_to_json, load_job_file, parse_job
from tikstream.jobs.fields import AppUserField, OfflineUserField, WebUserField
from tikstream.jobs.sources import Source, entries
from tikstream.jobs.targets import APP_USER_TARGETS, OFFLINE_USER_TARGETS, PROPERTY_TARGETS, WEB_USER_TARGETS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WEB: dict[str, Any] = {
    "id": "web", "type": "web_events", "auth": "pixel", "audiences": ["buyers"], "pixel_code": "C4ABCDEF",
    "event_name": "Purchase", "page_url_field": "user.page", "identifiers": {"user.email": "email"},
}  # fmt: skip
APP: dict[str, Any] = {
    "id": "app", "type": "app_events", "auth": "app", "audiences": ["buyers"], "app_id": "7123456789",
    "app_name": "Example", "event_name": "Purchase", "identifiers": {"user.gaid": "gaid"},
}  # fmt: skip
OFFLINE: dict[str, Any] = {
    "id": "shop", "type": "offline_events", "auth": "store", "audiences": ["buyers"],
    "event_set_id": "1616318632825", "event_name": "Purchase", "identifiers": {"user.email": "email"},
}  # fmt: skip
BASES = {"web": WEB, "app": APP, "offline": OFFLINE}
SCHEMA = jsonschema_rs.validator_for(json.loads(schemas.generate()["schemas/job.schema.json"]))


def job(base: str, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASES[base])
    doc.update(changes)
    return doc


VALID = [
    pytest.param("web", {"properties": {"content_type": {"const": "product"}}}, id="const"),
    pytest.param("web", {"properties": {"currency": {"path": "user.currency", "default": "EUR"}}}, id="default"),
    pytest.param("web", {"properties": {"value": "user.total"}}, id="target-keyed-path"),
    pytest.param("web", {"properties": {"user.cart": "contents", "num_items": {"derive": "count"},
                                        "value": {"derive": "sum_price_quantity", "default": 0}}}, id="derive"),
    pytest.param("web", {"properties": {"contents": "user.cart", "num_items": {"derive": "sum_quantity"}}},
                 id="derive-sum-quantity"),
    pytest.param("web", {"properties": {"query": "user.search", "search_string": "user.search"}},
                 id="one-path-two-targets"),
    pytest.param("web", {"identifiers": {"user.email": "email", "ttclid": {"url_param": "ttclid"},
                                         "ttp": {"url_param": "_ttp", "path": "user.ttp", "default": "x"}}},
                 id="url-param"),
    pytest.param("web", {"identifiers": {"country": {"path": "user.country", "default": "us"},
                                         "state": {"const": "ca"}}}, id="user-const"),
    pytest.param("web", {"identifiers": {"phone": {"path": "user.tel", "default": 12133734253}}},
                 id="phone-default-number"),
    pytest.param("web", {"event_id_field": "user.order_id"}, id="event-id-field"),
    pytest.param("app", {"event_id_field": "user.install_id", "device_id_policy": "any"}, id="app-policies"),
    pytest.param("offline", {"event_id_field": "user.receipt", "phone_policy": "valid"}, id="offline-policies"),
    pytest.param("web", {"phone_policy": "e164"}, id="e164-without-region"),
    pytest.param("web", {"properties": {
        "checkin_date": {"const": "2026-12-24"}, "checkout_date": "user.out", "num_adults": {"const": 2},
        "travel_class": {"const": "eco"}, "suggested_hotels": {"const": ["h1", "h2"]},
        "departing_departure_date": {"const": "2026-12-24T08:30+01:00"}, "content_type": {"const": "hotel"},
        "preferred_num_stops": {"const": 0}, "travel_start": {"const": "20261224"}}}, id="travel"),
    pytest.param("web", {"properties": {
        "make": "user.car.make", "year": {"const": 2021}, "state_of_vehicle": {"const": "CPO"},
        "mileage.value": "user.car.km", "mileage.unit": {"const": "KM"}, "body_style": {"const": "SUV"},
        "preferred_price_range": {"const": [10000, 25000.5]}, "vin": {"const": "1FADP5AU6DL536022"},
        "content_type": {"const": "vehicle"}}}, id="vehicle"),
    pytest.param("web", {"properties": {"contents": {"const": [{"content_id": "sku-1", "price": 8, "quantity": 2}]}}},
                 id="contents-const"),
    pytest.param("web", {"properties": {"user.a": "value", "currency": {"const": "USD"}}}, id="mixed-shapes"),
]


@pytest.mark.parametrize(("base", "changes"), VALID)
def test_valid_mappings_parse_round_trip_and_pass_the_schema(base: str, changes: dict[str, Any]) -> None:
    doc = job(base, **changes)
    parsed = parse_job(doc)
    assert parse_job(job_to_json(parsed)) == parsed
    assert SCHEMA.is_valid(doc), next(iter(SCHEMA.iter_errors(doc)), None)


# (base, changes, error path, words in the message)
INVALID = [
    pytest.param("web", {"properties": {"user.cart": "contents", "value": {"derive": "sum_price_qty"}}},
                 "properties.value", "'sum_price_qty' is not a derivation; did you mean 'sum_price_quantity'?",
                 id="derive-typo"),
    pytest.param("web", {"properties": {"user.cart": "contents", "value": {"derive": "count"}}},
                 "properties.value", "'count' derives num_items, not value; value takes 'sum_price_quantity'",
                 id="derive-wrong-target"),
    pytest.param("web", {"properties": {"num_items": {"derive": "count"}}}, "properties.num_items",
                 "properties.contents, which is not mapped", id="derive-without-contents"),
    pytest.param("web", {"properties": {"currency": {"derive": "count"}}}, "properties.currency",
                 "currency cannot be derived", id="derive-underivable"),
    pytest.param("web", {"properties": {"num_items": {"const": 2.5}}}, "properties.num_items",
                 "const 2.5 is not an integer", id="const-type"),
    pytest.param("web", {"properties": {"currency": {"const": "eur"}}}, "properties.currency",
                 "const 'eur' is not an ISO 4217 currency code", id="const-currency"),
    pytest.param("web", {"properties": {"body_style": {"const": "Sedn"}}}, "properties.body_style",
                 "did you mean 'Sedan'?", id="const-enum-typo"),
    pytest.param("web", {"properties": {"checkin_date": {"const": "24/12/2026"}}}, "properties.checkin_date",
                 "'24/12/2026' is not a date as YYYYMMDD", id="const-date"),
    pytest.param("web", {"properties": {"year": {"path": "user.year", "default": "2021"}}}, "properties.year",
                 "default '2021' is not an integer", id="default-type"),
    pytest.param("web", {"properties": {"value": {"const": None}}}, "properties.value", "may not be null",
                 id="const-null"),
    pytest.param("web", {"properties": {"value": {"const": 5, "path": "user.v"}}}, "properties.value",
                 "a constant stands alone: remove 'path'", id="const-with-path"),
    pytest.param("web", {"properties": {"value": {"pth": "user.v"}}}, "properties.value.pth",
                 "unknown key 'pth'; did you mean 'path'?", id="source-key-typo"),
    pytest.param("web", {"properties": {"value": {}}}, "properties.value", "is not a source", id="empty-source"),
    pytest.param("web", {"properties": {"value": "total"}}, "properties.value", "'total' is not a record path",
                 id="target-keyed-not-a-path"),
    pytest.param("web", {"properties": {"vlaue": {"const": 1}}}, "properties.vlaue", "did you mean 'value'?",
                 id="unknown-target"),
    pytest.param("web", {"properties": {"user.total": "vale"}}, "properties.user.total",
                 "'vale' is not a TikTok properties field; did you mean 'value'?", id="legacy-target-typo"),
    pytest.param("web", {"properties": {"user.total": {"const": 1}}}, "properties.user.total",
                 "key the entry by the field", id="legacy-with-object"),
    pytest.param("web", {"properties": {"user.total": "value", "value": {"const": 1}}}, "properties",
                 "'value' from user.total, its own entry 'value'", id="target-twice"),
    pytest.param("app", {"properties": {"user.x": "contents", "value": {"url_param": "v"}}}, "properties.value",
                 "only web_events jobs have", id="url-param-on-app"),
    pytest.param("web", {"identifiers": {"ttclid": {"url_param": "tt clid"}}}, "identifiers.ttclid",
                 "is not a query parameter name", id="url-param-name"),
    pytest.param("web", {"identifiers": {"email": {"derive": "count"}}}, "identifiers.email",
                 "email cannot be derived", id="derive-identifier"),
    pytest.param("web", {"identifiers": {"emial": "user.email"}}, "identifiers.emial",
                 "did you mean 'email'?", id="identifier-target-typo"),
    pytest.param("offline", {"identifiers": {"ttclid": "user.t"}}, "identifiers.ttclid",
                 "neither a TikTok user field of offline events", id="ttclid-offline"),
    pytest.param("web", {"identifiers": {"phone": {"const": True}}}, "identifiers.phone",
                 "const True is not a non-empty string or a whole number", id="identifier-const-bool"),
    pytest.param("web", {"phone_policy": "e.164"}, "phone_policy",
                 "'e.164' is not one of 'valid', 'possible' or 'e164'; did you mean 'e164'?", id="policy-typo"),
    pytest.param("web", {"phone_policy": "e164", "default_phone_region": "US"}, "phone_policy",
                 "default_phone_region 'US' would have no effect", id="e164-with-region"),
    pytest.param("app", {"device_id_policy": "uuids"}, "device_id_policy", "did you mean 'uuid'?",
                 id="device-policy-typo"),
    pytest.param("web", {"device_id_policy": "any"}, "device_id_policy", "unknown field", id="device-policy-web"),
    pytest.param("web", {"event_id_field": "order_id"}, "event_id_field", "a record path", id="event-id-path"),
]


@pytest.mark.parametrize(("base", "changes", "path", "words"), INVALID)
def test_invalid_mappings_name_the_value(base: str, changes: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(JobConfigError) as caught:
        parse_job(job(base, **changes))
    errors = {e.path: e.message for e in caught.value.errors}
    assert path in errors, errors
    assert words in errors[path]


MODELS_ONLY = {
    "derive-without-contents",  # two entries together: the models check it, the schema cannot
    "target-twice",  # the same target under two keys
    "e164-with-region",  # two fields together
}
SCHEMA_REFUSES = [row for row in INVALID if row.id not in MODELS_ONLY]


@pytest.mark.parametrize(("base", "changes", "path", "words"), SCHEMA_REFUSES)
def test_the_schema_refuses_what_the_models_refuse(base: str, changes: dict[str, Any], path: str,
                                                   words: str) -> None:
    assert not SCHEMA.is_valid(job(base, **changes))


def test_entries_read_both_shapes_in_order() -> None:
    parsed = parse_job(job("web", identifiers={"user.email": "email", "ttclid": {"url_param": "ttclid"}},
                           properties={"user.total": "value", "content_type": {"const": "product"},
                                       "currency": {"path": "user.c", "default": "EUR"}}))
    assert isinstance(parsed, WebEventsJob)
    assert entries(parsed.identifiers) == (("email", Source(path="user.email")),
                                           ("ttclid", Source(url_param="ttclid")))
    assert entries(parsed.properties) == (
        ("value", Source(path="user.total")), ("content_type", Source(const="product", has_const=True)),
        ("currency", Source(path="user.c", default="EUR")),
    )
    assert [s.kind for _, s in entries(parsed.properties)] == ["path", "const", "path"]


def test_defaults_of_the_new_fields() -> None:
    web, app = parse_job(WEB), parse_job(APP)
    assert isinstance(web, WebEventsJob) and isinstance(app, AppEventsJob)
    assert (web.phone_policy, web.event_id_field, app.device_id_policy) == ("possible", None, "uuid")
    assert b"phone_policy" in job_to_json(web)  # published with its default, as every field is


def test_target_tables_match_the_field_literals() -> None:
    from typing import get_args

    assert list(WEB_USER_TARGETS) == list(get_args(WebUserField))
    assert list(APP_USER_TARGETS) == list(get_args(AppUserField))
    assert list(OFFLINE_USER_TARGETS) == list(get_args(OfflineUserField))
    assert len(PROPERTY_TARGETS) == 15 + 22 + 20  # shop fields, travel, vehicle (docs/tiktok-api.md §3.5)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_passes_the_schema(path: Path) -> None:
    import yaml

    (doc,) = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert SCHEMA.is_valid(doc), next(iter(SCHEMA.iter_errors(doc)), None)
    load_job_file(path)


def test_the_job_reference_documents_the_source_keys_and_the_guides() -> None:
    page = (EXAMPLES.parent / "docs" / "jobs.md").read_text()
    for key in ("path", "const", "default", "derive", "url_param"):
        assert f"| `{key}` |" in page
    for heading in ("## Deduplication with the Pixel", "## Phone policy", "## Travel and vehicle properties",
                    "## Where tikstream deliberately differs from the peers"):
        assert heading in page
    for target in PROPERTY_TARGETS:
        assert f"`{target}`" in page
