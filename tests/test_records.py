from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from tikstream.errors import InvalidRecord
from tikstream.records import (
    MAX_VALUE_BYTES,
    REASONS,
    Trigger,
    TriggerModel,
    compile_path,
    compile_trigger_path,
    decode,
    get_path,
)

KAFKA_TS_MS = 1_700_000_000_123
BASE: dict[str, Any] = {"audience": "vip_customers", "event": "enter", "user_id": "u-42"}
T_2026 = datetime(2026, 11, 24, 10, 15, tzinfo=UTC).timestamp()


def rec(**changes: Any) -> bytes:
    """The base trigger with ``changes``; a change to ``...`` (Ellipsis) removes the field."""
    doc = {**BASE, "ts": "2026-11-24T10:15:00Z", "user": {"email": "a@example.com"}}
    for key, value in changes.items():
        if value is ...:
            doc.pop(key, None)
        else:
            doc[key] = value
    return orjson.dumps(doc)


def padded(size: int) -> bytes:
    head = rec(user={"pad": ""})
    return head.replace(b'"pad":""', b'"pad":"' + b"x" * (size - len(head)) + b'"')


VALID = [
    pytest.param(rec(), T_2026, id="rfc3339-z"),
    pytest.param(rec(ts="2026-11-24T11:15:00+01:00"), T_2026, id="rfc3339-offset"),
    pytest.param(rec(ts="2026-11-24T05:15:00-05:00"), T_2026, id="rfc3339-negative-offset"),
    pytest.param(rec(ts="2026-11-24t10:15:00z"), T_2026, id="rfc3339-lowercase"),
    pytest.param(rec(ts="2026-11-24 10:15:00Z"), T_2026, id="rfc3339-space"),
    pytest.param(rec(ts="2026-11-24T10:15:00.250Z"), T_2026 + 0.25, id="rfc3339-millis"),
    pytest.param(rec(ts="2026-11-24T10:15:00.123456789Z"), T_2026 + 0.123456, id="rfc3339-nanos"),
    pytest.param(rec(ts=int(T_2026)), T_2026, id="epoch-seconds"),
    pytest.param(rec(ts=T_2026 + 0.5), T_2026 + 0.5, id="epoch-seconds-float"),
    pytest.param(rec(ts=int(T_2026) * 1000 + 250), T_2026 + 0.25, id="epoch-millis"),
    pytest.param(rec(ts=0), 0.0, id="epoch-zero"),
    pytest.param(rec(ts=99_999_999_999), 99_999_999_999.0, id="largest-seconds"),
    pytest.param(rec(ts=100_000_000_000), 100_000_000.0, id="smallest-millis-1973"),
    pytest.param(rec(ts=...), KAFKA_TS_MS / 1000, id="ts-absent-kafka-timestamp"),
    pytest.param(rec(ts=None), KAFKA_TS_MS / 1000, id="ts-null-kafka-timestamp"),
    pytest.param(rec(user=...), T_2026, id="no-user"),
    pytest.param(rec(user=None), T_2026, id="user-null"),
    pytest.param(rec(event="exit"), T_2026, id="exit"),
    pytest.param(rec(user_id="Ünïcødé user"), T_2026, id="unicode-user-id"),
    pytest.param(rec(source="crm", version=2), T_2026, id="extra-top-level-fields"),
    pytest.param(rec(audience="a"), T_2026, id="one-char-audience"),
    pytest.param(rec(audience="a" * 64), T_2026, id="longest-audience"),
    pytest.param(padded(MAX_VALUE_BYTES), T_2026, id="exactly-max-bytes"),
]


@pytest.mark.parametrize(("value", "ts"), VALID)
def test_decode_valid(value: bytes, ts: float) -> None:
    trigger = decode(value, KAFKA_TS_MS)
    doc = orjson.loads(value)
    assert trigger == Trigger(doc["audience"], doc["event"], doc["user_id"], trigger.ts, doc)
    assert trigger.ts == pytest.approx(ts, abs=1e-6)
    assert trigger.doc == doc


POISON = [
    pytest.param(None, "null_value", "no value", id="null-value"),
    pytest.param(padded(MAX_VALUE_BYTES + 1), "too_large", str(MAX_VALUE_BYTES), id="one-byte-too-large"),
    pytest.param(b'{"audience": "\xff\xfe"}', "not_utf8", "byte 14", id="not-utf8"),
    pytest.param(b"\xc3\x28", "not_utf8", "byte 0", id="not-utf8-not-json"),
    pytest.param(b"{", "invalid_json", "", id="truncated-json"),
    pytest.param(b"", "invalid_json", "", id="empty-value"),
    pytest.param(b"{'audience': 'a'}", "invalid_json", "", id="single-quotes"),
    pytest.param(b"[1, 2]", "not_object", "array", id="json-array"),
    pytest.param(b'"enter"', "not_object", "string", id="json-string"),
    pytest.param(b"42", "not_object", "number", id="json-number"),
    pytest.param(b"null", "not_object", "null", id="json-null"),
    pytest.param(rec(audience=...), "missing_field", "audience", id="missing-audience"),
    pytest.param(rec(event=...), "missing_field", "event", id="missing-event"),
    pytest.param(rec(user_id=...), "missing_field", "user_id", id="missing-user-id"),
    pytest.param(rec(audience=None), "missing_field", "audience", id="null-audience"),
    pytest.param(rec(event="entered"), "invalid_field", "event 'entered'", id="event-not-enter-exit"),
    pytest.param(rec(event="ENTER"), "invalid_field", "event", id="event-uppercase"),
    pytest.param(rec(event=1), "invalid_field", "event", id="event-number"),
    pytest.param(rec(audience="VIP Customers"), "invalid_field", "audience", id="audience-not-slug"),
    pytest.param(rec(audience="a" * 65), "invalid_field", "audience", id="audience-too-long"),
    pytest.param(rec(audience="vip\n"), "invalid_field", "audience", id="audience-trailing-newline"),
    pytest.param(rec(audience=42), "invalid_field", "number", id="audience-number"),
    pytest.param(rec(user_id=""), "invalid_field", "user_id", id="user-id-empty"),
    pytest.param(rec(user_id="  "), "invalid_field", "user_id", id="user-id-blank"),
    pytest.param(rec(user_id=42), "invalid_field", "user_id", id="user-id-number"),
    pytest.param(rec(user=["a"]), "invalid_field", "user must be a JSON object", id="user-array"),
    pytest.param(rec(user="a@example.com"), "invalid_field", "user", id="user-string"),
    pytest.param(rec(ts="yesterday"), "invalid_ts", "yesterday", id="ts-words"),
    pytest.param(rec(ts="2026-11-24"), "invalid_ts", "", id="ts-date-only"),
    pytest.param(rec(ts="2026-11-24T10:15:00"), "invalid_ts", "", id="ts-no-time-zone"),
    pytest.param(rec(ts="2026-11-24T10:15Z"), "invalid_ts", "", id="ts-no-seconds"),
    pytest.param(rec(ts="20261124T101500Z"), "invalid_ts", "", id="ts-basic-format"),
    pytest.param(rec(ts="2026-13-01T00:00:00Z"), "invalid_ts", "", id="ts-month-13"),
    pytest.param(rec(ts="2026-11-24T10:15:00+0100"), "invalid_ts", "", id="ts-offset-without-colon"),
    pytest.param(rec(ts="1735689600"), "invalid_ts", "", id="ts-numeric-string"),
    pytest.param(rec(ts=True), "invalid_ts", "boolean", id="ts-boolean"),
    pytest.param(rec(ts=-1), "invalid_ts", "", id="ts-negative"),
    pytest.param(rec(ts=1_795_515_300_000_000), "invalid_ts", "", id="ts-microseconds"),
    pytest.param(rec(ts={"s": 1}), "invalid_ts", "object", id="ts-object"),
]


@pytest.mark.parametrize(("value", "reason", "detail"), POISON)
def test_decode_poison(value: bytes | None, reason: str, detail: str) -> None:
    with pytest.raises(InvalidRecord) as caught:
        decode(value, KAFKA_TS_MS)
    assert caught.value.reason == reason
    assert detail in caught.value.detail


@pytest.mark.parametrize(
    "timestamp_ms", [pytest.param(None, id="none"), pytest.param(-1, id="not-available")]
)
def test_no_ts_and_no_kafka_timestamp_is_invalid_ts(timestamp_ms: int | None) -> None:
    with pytest.raises(InvalidRecord) as caught:
        decode(rec(ts=...), timestamp_ms)
    assert caught.value.reason == "invalid_ts"


def test_every_reason_is_exercised() -> None:
    seen = {p.values[1] for p in POISON} | {"invalid_ts"}
    assert seen == set(REASONS)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(rec(user_id="alice@example.com", user="alice@example.com"), id="bad-user"),
        pytest.param(rec(user_id="alice@example.com", event=""), id="bad-event"),
        pytest.param(rec(user_id="alice@example.com", ts=""), id="bad-ts"),
    ],
)
def test_details_never_quote_the_user_or_profile(value: bytes) -> None:
    with pytest.raises(InvalidRecord) as caught:
        decode(value, KAFKA_TS_MS)
    assert "alice" not in str(caught.value)


def test_max_bytes_is_configurable() -> None:
    value = rec()
    assert decode(value, None, max_bytes=len(value)).user_id == "u-42"
    with pytest.raises(InvalidRecord, match="too_large"):
        decode(value, None, max_bytes=len(value) - 1)


def test_trigger_is_frozen_with_slots() -> None:
    trigger = decode(rec(), None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        trigger.user_id = "other"  # type: ignore[misc]
    assert not hasattr(trigger, "__dict__")
    assert trigger == Trigger("vip_customers", "enter", "u-42", T_2026, orjson.loads(rec()))


def test_decode_accepts_memoryview_and_bytearray() -> None:
    assert decode(bytearray(rec()), None).ts == T_2026  # type: ignore[arg-type]
    assert decode(memoryview(rec()), None).ts == T_2026  # type: ignore[arg-type]


def test_ts_cache_gives_the_same_answer() -> None:
    first = decode(rec(ts="2026-11-24T10:15:00.5+00:00"), None)
    again = decode(rec(ts="2026-11-24T10:15:00.5+00:00"), None)
    assert first.ts == again.ts == T_2026 + 0.5


# --- TriggerModel (the schema) and decode() agree -------------------------------------------------------

NOT_ABOUT_THE_JSON = {"null-value", "one-byte-too-large", "exactly-max-bytes"}


@pytest.mark.parametrize(
    ("value", "valid"),
    [pytest.param(p.values[0], True, id=p.id) for p in VALID if p.id not in NOT_ABOUT_THE_JSON]
    + [pytest.param(p.values[0], False, id=p.id) for p in POISON if p.id not in NOT_ABOUT_THE_JSON],
)
def test_model_and_decode_agree(value: bytes, valid: bool) -> None:
    try:
        TriggerModel.model_validate_json(value)
    except ValidationError:
        model_ok = False
    else:
        model_ok = True
    assert model_ok is valid


# --- record paths ----------------------------------------------------------------------------------------

DOC: dict[str, Any] = {
    "audience": "vip",
    "event": "enter",
    "user_id": "u-1",
    "ts": 1735689600,
    "user": {
        "email": "a@example.com",
        "address": {"city": "Paris", "zip": None},
        "orders": [{"total": 5}, {"total": 7}],
        "$score": 3,
        "first-name": "Ann",
        "n": 0,
    },
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("user_id", "u-1", id="trigger-field"),
        pytest.param("ts", 1735689600, id="raw-ts"),
        pytest.param("user.email", "a@example.com", id="two-segments"),
        pytest.param("user.address.city", "Paris", id="three-segments"),
        pytest.param("user.address.zip", None, id="json-null"),
        pytest.param("user.orders.1.total", 7, id="array-index"),
        pytest.param("user.orders.2.total", None, id="array-index-out-of-range"),
        pytest.param("user.orders.x", None, id="array-non-index"),
        pytest.param("user.$score", 3, id="dollar-segment"),
        pytest.param("user.first-name", "Ann", id="dash-segment"),
        pytest.param("user.n", 0, id="falsy-value"),
        pytest.param("user.missing", None, id="missing-key"),
        pytest.param("user.email.domain", None, id="through-a-string"),
        pytest.param("user.missing.deeper.still", None, id="through-missing"),
    ],
)
def test_compile_path(path: str, expected: object) -> None:
    assert compile_path(path)(DOC) == expected
    assert get_path(DOC, path) == expected


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("user", id="bare-user"),
        pytest.param("user.", id="empty-segment"),
        pytest.param("user..email", id="double-dot"),
        pytest.param("user.e mail", id="space"),
        pytest.param("profile.email", id="unknown-root"),
        pytest.param("user_id.x", id="into-user-id"),
        pytest.param("", id="empty"),
    ],
)
def test_compile_path_rejects_non_paths(path: str) -> None:
    with pytest.raises(ValueError, match="not a record path"):
        compile_path(path)


def test_compile_path_when_user_is_absent() -> None:
    assert compile_path("user.email")({"user_id": "u"}) is None
    assert compile_path("user.a.b")({"user": None}) is None


def test_compile_trigger_path_ts_is_the_decoded_time() -> None:
    trigger = decode(rec(ts=...), KAFKA_TS_MS)
    assert compile_trigger_path("ts")(trigger) == KAFKA_TS_MS / 1000
    assert compile_trigger_path("user.email")(trigger) == "a@example.com"
    assert compile_trigger_path("audience")(trigger) == "vip_customers"
