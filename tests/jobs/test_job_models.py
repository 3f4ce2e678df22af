from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import orjson
import pytest
from pydantic import ValidationError

from tikstream.errors import JobConfigError
from tikstream.jobs import (
    JOB_ADAPTER,
    JOB_MODELS,
    AppEventsJob,
    AudienceExportJob,
    OfflineEventsJob,
    WebEventsJob,
    job_to_json,
    load_job_file,
    parse_job,
)
from tikstream.jobs.fields import APP_STANDARD_EVENTS, WEB_STANDARD_EVENTS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# The docs/architecture.md §4 examples, verbatim, plus one app and one offline job of the same shape.
AUDIENCE: dict[str, Any] = {
    "id": "vip-to-tiktok", "type": "audience_export", "auth": "tiktok-main",
    "audience": "vip_customers", "advertiser_id": "7000000000000000000",
    "identifiers": {"user.email": "EMAIL_SHA256", "user.phone": "PHONE_SHA256", "user.idfa": "IDFA_SHA256"},
    "existing_users": True,
}  # fmt: skip
WEB: dict[str, Any] = {
    "id": "web-purchase", "type": "web_events", "auth": "pixel-token",
    "audiences": ["cart_abandoners"], "triggers": ["enter"],
    "pixel_code": "C4ABCDEF", "event_name": "Purchase", "event_time_field": "user.last_order_at",
    "page_url_field": "user.last_page", "page_referrer_field": "user.referrer",
    "identifiers": {"user.email": "email", "user.phone": "phone", "user_id": "external_id", "user.ip": "ip"},
    "properties": {"user.order_total": "value", "user.currency": "currency"},
}  # fmt: skip
APP: dict[str, Any] = {
    "id": "app-trial", "type": "app_events", "auth": "app-token", "audiences": ["trial_users"],
    "app_id": "7200000000000000001", "app_name": "Example Shop", "event_name": "StartTrial",
    "identifiers": {"user.idfa": "idfa", "user.gaid": "gaid", "user_id": "external_id"},
}  # fmt: skip
OFFLINE: dict[str, Any] = {
    "id": "store-purchase", "type": "offline_events", "auth": "store-offline",
    "audiences": ["in_store_buyers"], "event_set_id": "1616318632825", "event_name": "Purchase",
    "identifiers": {"user.email": "email", "user.phone": "phone"},
}  # fmt: skip
BASES = {"audience": AUDIENCE, "web": WEB, "app": APP, "offline": OFFLINE}
MODELS = {
    "audience": AudienceExportJob,
    "web": WebEventsJob,
    "app": AppEventsJob,
    "offline": OfflineEventsJob,
}


def variant(base: str, **changes: Any) -> dict[str, Any]:
    """A copy of a base job with ``changes``; a change to ``...`` (Ellipsis) removes the field."""
    doc = copy.deepcopy(BASES[base])
    for key, value in changes.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


@pytest.mark.parametrize("base", sorted(BASES))
def test_valid_examples_round_trip(base: str) -> None:
    job = parse_job(BASES[base])
    assert isinstance(job, MODELS[base])
    published = job_to_json(job)
    assert parse_job(published) == job
    assert job_to_json(parse_job(published)) == published
    assert b"null" not in published


@pytest.mark.parametrize(
    ("file", "model"),
    [
        pytest.param("audience-export.yaml", AudienceExportJob, id="audience-export"),
        pytest.param("audience-streaming.yaml", AudienceExportJob, id="audience-streaming"),
        pytest.param("web-events.yaml", WebEventsJob, id="web-events"),
        pytest.param("app-events.yaml", AppEventsJob, id="app-events"),
        pytest.param("offline-events.yaml", OfflineEventsJob, id="offline-events"),
    ],
)
def test_example_files(file: str, model: type) -> None:
    (job,) = load_job_file(EXAMPLES / file)
    assert isinstance(job, model)
    assert parse_job(job_to_json(job)) == job


def test_design_examples_match_the_example_files() -> None:
    (audience,) = load_job_file(EXAMPLES / "audience-export.yaml")
    (web,) = load_job_file(EXAMPLES / "web-events.yaml")
    assert audience.model_copy(update={"label": None, "default_phone_region": None}) == parse_job(AUDIENCE)
    # the example also shows the target-keyed entries (docs/jobs.md, Mappings) and the phone policy
    design = parse_job(WEB)
    assert isinstance(design, WebEventsJob)
    same = {"default_phone_region": None, "identifiers": design.identifiers, "properties": design.properties}
    assert web.model_copy(update=same) == design
    assert dict(list(web.identifiers.items())[:4]) == WEB["identifiers"]
    assert web.properties["user.order_total"] == "value"
    assert web.properties["currency"] == {"path": "user.currency", "default": "USD"}


def test_defaults() -> None:
    audience = parse_job(variant("audience", existing_users=...))
    assert isinstance(audience, AudienceExportJob)
    assert (audience.enabled, audience.existing_users, audience.audience_name_prefix) == (
        True,
        False,
        "tikstream",
    )
    assert (audience.flush_interval_seconds, audience.flush_max_bytes, audience.flush_max_users) == (
        3600, 250_000_000, 500_000,
    )  # fmt: skip
    assert audience.retention_in_days is None and audience.created_at is None
    web = parse_job(variant("web", triggers=...))
    assert isinstance(web, WebEventsJob)
    assert (web.triggers, web.batch_max_events, web.linger_ms, web.limited_data_use) == (
        ("enter",),
        1000,
        200,
        False,
    )
    app = parse_job(APP)
    assert isinstance(app, AppEventsJob)
    assert web.test_event_code is None and app.properties == {}


def test_event_source() -> None:
    web, app, offline = parse_job(WEB), parse_job(APP), parse_job(OFFLINE)
    assert isinstance(web, WebEventsJob) and (web.source, web.event_source_id) == ("web", "C4ABCDEF")
    assert isinstance(app, AppEventsJob) and (app.source, app.event_source_id) == (
        "app",
        "7200000000000000001",
    )
    assert isinstance(offline, OfflineEventsJob)
    assert (offline.source, offline.event_source_id) == ("offline", "1616318632825")


@pytest.mark.parametrize(
    ("base", "changes"),
    [
        pytest.param("web", {"triggers": ["enter", "exit"]}, id="both-triggers"),
        pytest.param("web", {"triggers": ["exit"]}, id="exit-only"),
        pytest.param("web", {"event_name": "SignupCompleted"}, id="web-custom-event"),
        pytest.param("web", {"event_name": "CompletePayment"}, id="web-legacy-name-as-custom"),
        pytest.param("app", {"event_name": "LaunchAPP"}, id="app-standard-event"),
        pytest.param("app", {"store_app_id": "1234567890"}, id="app-store-numeric-id"),
        pytest.param("app", {"store_app_id": "com.example.shop"}, id="android-package"),
        pytest.param("web", {"batch_max_events": 1, "linger_ms": 0}, id="smallest-batch"),
        pytest.param("web", {"batch_max_events": 1000, "linger_ms": 60_000}, id="largest-batch"),
        pytest.param("web", {"default_phone_region": "GB", "test_event_code": "TEST12345"}, id="options"),
        pytest.param(
            "web", {"identifiers": {"user.ttclid": "ttclid", "user.ttp": "ttp"}}, id="web-browser-ids"
        ),
        pytest.param(
            "web", {"properties": {"user.items": "contents", "user.skus": "content_ids"}}, id="arrays"
        ),
        pytest.param("web", {"event_time_field": "ts"}, id="time-from-ts"),
        pytest.param("web", {"identifiers": {"user.orders.0.email": "email"}}, id="array-index-path"),
        pytest.param("audience", {"identifiers": {"user.gaid": "GAID_MD5"}}, id="one-calculate-type"),
        pytest.param("audience", {"delivery": "streaming", "stream_batch_max": 10_000, "stream_linger_ms": 0},
                     id="streaming-bounds"),
        pytest.param("audience", {"delivery": "file", "stream_batch_max": 1000}, id="stream-default-on-file"),
        pytest.param("audience", {"retention_in_days": 365, "flush_interval_seconds": 86_400}, id="bounds"),
        pytest.param("audience", {"created_at": "2026-11-24T10:15:00Z"}, id="created-at"),
        pytest.param("audience", {"enabled": False, "label": "x", "description": ""}, id="common-fields"),
        pytest.param(
            "audience",
            {"identifiers": {"user.email": "EMAIL_SHA256", "user.work_email": "EMAIL_SHA256"}},
            id="two-paths-one-type",
        ),
        pytest.param("offline", {"event_name": "CompleteRegistration"}, id="offline-standard-event"),
    ],
)
def test_valid_variants(base: str, changes: dict[str, Any]) -> None:
    job = parse_job(variant(base, **changes))
    assert parse_job(job_to_json(job)) == job


INVALID = [
    pytest.param(
        "web",
        {"batch_max_event": 5},
        "batch_max_event",
        "did you mean 'batch_max_events'",
        id="unknown-field",
    ),
    pytest.param("audience", {"identifer": {}}, "identifer", "did you mean 'identifiers'", id="typo-field"),
    pytest.param("web", {"id": "Web Purchase"}, "id", "lowercase letters", id="bad-id"),
    pytest.param("web", {"id": "-web"}, "id", "starting with a letter", id="id-leading-dash"),
    pytest.param("web", {"id": "w" * 65}, "id", "1 to 64", id="id-too-long"),
    pytest.param("web", {"id": ...}, "id", "is required", id="missing-id"),
    pytest.param("web", {"auth": "Pixel Token"}, "auth", "lowercase", id="bad-auth-name"),
    pytest.param(
        "web", {"batch_max_events": 1001}, "batch_max_events", "less than or equal to 1000", id="batch-1001"
    ),
    pytest.param(
        "web", {"batch_max_events": 0}, "batch_max_events", "greater than or equal to 1", id="batch-0"
    ),
    pytest.param("web", {"batch_max_events": "100"}, "batch_max_events", "integer", id="batch-string"),
    pytest.param("web", {"batch_max_events": True}, "batch_max_events", "integer", id="batch-bool"),
    pytest.param("web", {"linger_ms": 60_001}, "linger_ms", "60000", id="linger-too-long"),
    pytest.param("web", {"enabled": "yes"}, "enabled", "boolean", id="enabled-string"),
    pytest.param("web", {"label": ""}, "label", "at least 1", id="empty-label"),
    pytest.param(
        "audience",
        {"identifiers": {"user.email": "EMAIL_SHA1"}},
        "identifiers.user.email",
        "EMAIL_SHA256",
        id="bad-calculate-type",
    ),
    pytest.param(
        "audience",
        {"identifiers": {"user.email": "email"}},
        "identifiers.user.email",
        "EMAIL_SHA256",
        id="events-field-in-audience",
    ),
    pytest.param("audience", {"identifiers": {}}, "identifiers", "at least 1", id="no-identifiers"),
    pytest.param(
        "audience",
        {"identifiers": {f"user.e{i}": "EMAIL_SHA256" for i in range(4)}},
        "identifiers",
        "at most 3 paths",
        id="four-email-paths",
    ),
    pytest.param(
        "web",
        {"identifiers": {"user.email": "emial"}},
        "identifiers.user.email",
        "'email'",
        id="bad-user-field",
    ),
    pytest.param(
        "web", {"identifiers": {"user.idfa": "idfa"}}, "identifiers.user.idfa", "'ttclid'", id="idfa-on-web"
    ),
    pytest.param(
        "app", {"identifiers": {"user.c": "ttclid"}}, "identifiers.user.c", "'idfa'", id="ttclid-on-app"
    ),
    pytest.param(
        "offline", {"identifiers": {"user.g": "gaid"}}, "identifiers.user.g", "must be", id="gaid-offline"
    ),
    pytest.param("web", {"identifiers": {}}, "identifiers", "at least 1", id="events-no-identifiers"),
    pytest.param(
        "web",
        {"identifiers": {"user.email": "email", "user.mail": "email"}},
        "identifiers",
        "'email' from user.email, user.mail",
        id="duplicate-user-field",
    ),
    pytest.param(
        "web",
        {"properties": {"user.total": "value", "user.sum": "value"}},
        "properties",
        "'value'",
        id="duplicate-property",
    ),
    pytest.param(
        "web", {"properties": {"user.x": "price"}}, "properties.user.x", "'value'", id="bad-property"
    ),
    pytest.param(
        "web",
        {"identifiers": {"profile.email": "email"}},
        "identifiers.profile.email",
        "a record path",
        id="path-unknown-root",
    ),
    pytest.param(
        "web", {"identifiers": {"user": "email"}}, "identifiers.user", "a record path", id="path-bare-user"
    ),
    pytest.param(
        "web",
        {"identifiers": {"user..email": "email"}},
        "identifiers.user..email",
        "a record path",
        id="path-empty-segment",
    ),
    pytest.param(
        "web",
        {"identifiers": {"user.e mail": "email"}},
        "identifiers.user.e mail",
        "a record path",
        id="path-space",
    ),
    pytest.param(
        "web", {"event_time_field": "created"}, "event_time_field", "a record path", id="bad-time-path"
    ),
    pytest.param("web", {"page_url_field": ...}, "page_url_field", "is required", id="missing-page-url"),
    pytest.param("web", {"audiences": []}, "audiences", "at least 1", id="empty-audiences"),
    pytest.param(
        "web", {"audiences": ["a", "b", "a"]}, "audiences", "more than once: a", id="duplicate-audience"
    ),
    pytest.param("web", {"audiences": ["VIP"]}, "audiences.0", "lowercase", id="audience-not-slug"),
    pytest.param(
        "web", {"audiences": "cart_abandoners"}, "audiences", "must be a list", id="audiences-not-list"
    ),
    pytest.param("web", {"triggers": []}, "triggers", "at least 1", id="empty-triggers"),
    pytest.param(
        "web", {"triggers": ["enter", "enter"]}, "triggers", "more than once", id="duplicate-trigger"
    ),
    pytest.param("web", {"triggers": ["join"]}, "triggers.0", "'enter' or 'exit'", id="bad-trigger"),
    pytest.param("web", {"event_name": ""}, "event_name", "a letter", id="empty-event-name"),
    pytest.param("web", {"event_name": "My Event!"}, "event_name", "a letter", id="event-name-pattern"),
    pytest.param(
        "web", {"event_name": "purchase"}, "event_name", "did you mean 'Purchase'", id="event-name-case"
    ),
    pytest.param("app", {"event_name": "LaunchApp"}, "event_name", "did you mean 'LaunchAPP'", id="app-case"),
    pytest.param(
        "offline",
        {"event_name": "StoreVisit"},
        "event_name",
        "offline events take standard names only",
        id="offline-custom",
    ),
    pytest.param(
        "offline", {"event_name": "CompletePayment"}, "event_name", "use 'Purchase'", id="offline-legacy"
    ),
    pytest.param("web", {"pixel_code": "c4abcdef"}, "pixel_code", "uppercase", id="pixel-lowercase"),
    pytest.param("web", {"test_event_code": "TEST 1"}, "test_event_code", "letters", id="bad-test-code"),
    pytest.param(
        "web", {"default_phone_region": "us"}, "default_phone_region", "uppercase", id="region-case"
    ),
    pytest.param(
        "web", {"default_phone_region": "XX"}, "default_phone_region", "phonenumbers", id="region-unknown"
    ),
    pytest.param("app", {"app_id": "abc"}, "app_id", "digits", id="app-id-not-digits"),
    pytest.param("app", {"app_id": 7200000000000000001}, "app_id", "quote it", id="app-id-number"),
    pytest.param("app", {"app_name": ...}, "app_name", "is required", id="missing-app-name"),
    pytest.param(
        "app", {"store_app_id": "not a package"}, "store_app_id", "package name", id="bad-store-app-id"
    ),
    pytest.param("offline", {"event_set_id": ""}, "event_set_id", "digits", id="empty-event-set"),
    pytest.param(
        "audience", {"advertiser_id": 7000000000000000000}, "advertiser_id", "quote it", id="advertiser-int"
    ),
    pytest.param("audience", {"advertiser_id": "70a"}, "advertiser_id", "digits", id="advertiser-not-digits"),
    pytest.param("audience", {"audience": "VIP customers"}, "audience", "lowercase", id="bad-audience"),
    pytest.param("audience", {"retention_in_days": 366}, "retention_in_days", "365", id="retention-366"),
    pytest.param("audience", {"retention_in_days": 0}, "retention_in_days", "1", id="retention-0"),
    pytest.param("audience", {"flush_interval_seconds": 0}, "flush_interval_seconds", "1", id="flush-0"),
    pytest.param(
        "audience", {"flush_interval_seconds": 86_401}, "flush_interval_seconds", "86400", id="flush-day"
    ),
    pytest.param("audience", {"flush_max_bytes": 10**10}, "flush_max_bytes", "1000000000", id="flush-bytes"),
    pytest.param("audience", {"flush_max_users": 0}, "flush_max_users", "1", id="flush-users"),
    pytest.param(
        "audience", {"audience_name_prefix": "x" * 41}, "audience_name_prefix", "40", id="long-prefix"
    ),
    pytest.param(
        "audience", {"audience_name_prefix": "a\nb"}, "audience_name_prefix", "printable", id="prefix-ctl"
    ),
    pytest.param(
        "audience", {"created_at": "2026-11-24T10:15:00"}, "created_at", "timezone", id="naive-created-at"
    ),
    pytest.param("audience", {"created_at": "last week"}, "created_at", "datetime", id="bad-created-at"),
    pytest.param(
        "audience", {"type": "email_export"}, "type", "'audience_export', 'app_events'", id="wrong-type"
    ),
    pytest.param(
        "audience", {"type": ...}, "type", "is required; expected one of 'audience_export'", id="no-type"
    ),
    pytest.param(
        "audience", {"audiences": ["x"]}, "audiences", "unknown field", id="events-field-on-audience"
    ),
    pytest.param("audience", {"delivery": "stream"}, "delivery", "'file' or 'streaming'", id="bad-delivery"),
    pytest.param("audience", {"stream_batch_max": 500}, "stream_batch_max",
                 "500 has no effect: stream_batch_max only applies when delivery is 'streaming'", id="stream-on-file"),
    pytest.param("audience", {"delivery": "streaming", "flush_interval_seconds": 60}, "flush_interval_seconds",
                 "only applies when delivery is 'file', and delivery is 'streaming'", id="flush-on-streaming"),
    pytest.param("audience", {"delivery": "streaming", "stream_batch_max": 10_001}, "stream_batch_max",
                 "less than or equal to 10000", id="stream-batch-over-10000"),
    pytest.param("audience", {"delivery": "streaming", "stream_linger_ms": -1}, "stream_linger_ms", "0",
                 id="negative-linger"),
]


@pytest.mark.parametrize(("base", "changes", "path", "message"), INVALID)
def test_invalid(base: str, changes: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(JobConfigError) as caught:
        parse_job(variant(base, **changes))
    errors = {e.path: e.message for e in caught.value.errors}
    assert path in errors, errors
    assert message in errors[path]


def test_every_error_is_reported_at_once() -> None:
    doc = variant(
        "web", id="Bad", batch_max_events=5000, audiences=[], extra=1, identifiers={"user.a": "nope"}
    )
    with pytest.raises(JobConfigError) as caught:
        parse_job(doc)
    assert {e.path for e in caught.value.errors} == {
        "id",
        "batch_max_events",
        "audiences",
        "extra",
        "identifiers.user.a",
    }
    assert caught.value.job_id == "Bad"
    assert "batch_max_events: must be less than or equal to 1000" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"{", "not valid JSON", id="invalid-json"),
        pytest.param(b"[]", "must be a JSON object", id="json-array"),
        pytest.param("null", "must be a JSON object", id="json-null-text"),
    ],
)
def test_parse_job_rejects_non_objects(data: bytes | str, message: str) -> None:
    with pytest.raises(JobConfigError) as caught:
        parse_job(data)
    assert caught.value.job_id is None
    assert message in str(caught.value)


def test_parse_job_from_bytes_and_text() -> None:
    assert parse_job(orjson.dumps(WEB)) == parse_job(orjson.dumps(WEB).decode()) == parse_job(WEB)


def test_created_at_round_trips_exactly() -> None:
    job = parse_job(variant("audience", created_at="2026-11-24T11:15:00.5+01:00"))
    assert job.created_at == datetime(2026, 11, 24, 10, 15, 0, 500_000, tzinfo=UTC)
    stamped = job.model_copy(update={"created_at": datetime(2026, 1, 1, tzinfo=UTC)})
    assert orjson.loads(job_to_json(stamped))["created_at"] == "2026-01-01T00:00:00Z"
    assert parse_job(job_to_json(stamped)) == stamped


def test_jobs_are_frozen() -> None:
    job = parse_job(WEB)
    with pytest.raises(ValidationError):
        job.batch_max_events = 5  # type: ignore[union-attr,misc]


def test_job_models_table_matches_the_type_literals() -> None:
    for name, model in JOB_MODELS.items():
        assert get_args(model.model_fields["type"].annotation) == (name,)
    assert JOB_ADAPTER.validate_python(APP) == parse_job(APP)


def test_standard_event_tables() -> None:
    assert len(WEB_STANDARD_EVENTS) == 18 and len(APP_STANDARD_EVENTS) == 27
    for name in sorted(WEB_STANDARD_EVENTS):
        parse_job(variant("offline", event_name=name))
    for name in sorted(APP_STANDARD_EVENTS):
        parse_job(variant("app", event_name=name))


# --- job files -----------------------------------------------------------------------------------------


def test_load_json_list(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    path.write_bytes(orjson.dumps([AUDIENCE, WEB, APP, OFFLINE]))
    assert [j.id for j in load_job_file(path)] == [
        "vip-to-tiktok",
        "web-purchase",
        "app-trial",
        "store-purchase",
    ]


def test_load_yaml_documents(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "# two jobs\n" + orjson.dumps(WEB).decode() + "\n---\n" + orjson.dumps(APP).decode() + "\n"
    )
    assert [type(j) for j in load_job_file(path)] == [WebEventsJob, AppEventsJob]


def test_load_reports_every_job_by_position(tmp_path: Path) -> None:
    path = tmp_path / "jobs.json"
    path.write_bytes(orjson.dumps([WEB, variant("app", batch_max_events=0), "oops", WEB]))
    with pytest.raises(JobConfigError) as caught:
        load_job_file(path)
    assert [str(e) for e in caught.value.errors] == [
        "[1].batch_max_events: must be greater than or equal to 1, not 0",
        "[2]: a job must be an object",
        "[3].id: duplicate job id 'web-purchase' (also at [0])",
    ]


def test_load_single_job_error_names_the_job(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("id: web-purchase\ntype: web_events\n")
    with pytest.raises(JobConfigError) as caught:
        load_job_file(path)
    assert caught.value.job_id == "web-purchase"
    assert "auth" in {e.path for e in caught.value.errors}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param("missing.yaml", None, "cannot read", id="missing-file"),
        pytest.param("bad.yaml", "id: [unclosed\n", "not valid YAML", id="invalid-yaml"),
        pytest.param("bad.json", "{", "not valid JSON", id="invalid-json"),
        pytest.param("empty.yaml", "# nothing\n", "holds no job", id="empty"),
    ],
)
def test_load_file_errors(tmp_path: Path, name: str, content: str | None, message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(JobConfigError, match=message):
        load_job_file(path)


def test_a_list_of_bad_items_reports_the_items_only() -> None:
    with pytest.raises(JobConfigError) as caught:
        parse_job(variant("web", audiences=["VIP"], triggers=["join"]))
    assert [e.path for e in caught.value.errors] == ["audiences.0", "triggers.0"]
