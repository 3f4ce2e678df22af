"""Property-based tests: no input crashes the trigger decoder or the job config validator, and every
rejection carries a reason."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tikstream.errors import InvalidRecord, JobConfigError
from tikstream.jobs.models import parse_job
from tikstream.records import REASONS, decode

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
trigger_like = st.fixed_dictionaries(
    {},
    optional={"audience": st.sampled_from(["vip", "a-b_c", "", "UPPER", "x" * 70]) | json_values,
              "event": st.sampled_from(["enter", "exit", "Enter", ""]) | json_values,
              "user_id": st.sampled_from(["u-1", " ", ""]) | json_values,
              "ts": st.sampled_from(["2026-11-24T10:15:00Z", "2026-11-24", 1_800_000_000, 1_800_000_000_000, -5])
              | json_values,
              "user": json_values},
)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300) | st.none())
def test_decode_never_crashes_on_bytes(value: bytes | None) -> None:
    try:
        t = decode(value, 1_800_000_000_000)
    except InvalidRecord as exc:
        assert exc.reason in REASONS and exc.detail
    else:
        assert t.event in ("enter", "exit") and t.user_id and t.audience


@settings(max_examples=600, deadline=None)
@given(trigger_like, st.one_of(st.none(), st.integers(-1, 2**45)))
def test_decode_accepts_or_refuses_with_a_reason(doc: dict[str, Any], kafka_ts: int | None) -> None:
    raw = orjson.dumps(doc)
    try:
        t = decode(raw, kafka_ts)
    except InvalidRecord as exc:
        assert exc.reason in REASONS and exc.detail
        return
    assert t.audience == doc["audience"] and t.event == doc["event"] and t.user_id == doc["user_id"]
    assert isinstance(t.ts, float) and t.ts >= 0
    assert t.raw == raw


job_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["audience_export", "web_events", "app_events", "offline_events", "bogus"])},
    optional={"id": st.sampled_from(["job-1", "Bad Id", ""]) | json_values,
              "auth": st.sampled_from(["pixel", ""]) | json_values,
              "audience": st.sampled_from(["vip"]) | json_values,
              "audiences": st.lists(st.sampled_from(["vip", "x", "BAD"]), max_size=3) | json_values,
              "advertiser_id": st.sampled_from(["7000000000000000000", 7]) | json_values,
              "identifiers": st.dictionaries(st.sampled_from(["user.email", "user.phone", "user_id", "bad path"]),
                                             st.sampled_from(["email", "phone", "EMAIL_SHA256", "nope"]), max_size=3)
              | json_values,
              "pixel_code": st.sampled_from(["C4ABCDEF", "x"]) | json_values,
              "event_name": st.sampled_from(["Purchase", "purchase", ""]) | json_values,
              "batch_max_events": st.integers(-5, 5000) | json_values,
              "extra": json_values},
)


@settings(max_examples=600, deadline=None)
@given(job_like)
def test_job_validator_never_crashes_and_every_rejection_has_a_field_reason(doc: dict[str, Any]) -> None:
    try:
        parse_job(doc)
    except JobConfigError as exc:
        assert exc.errors, "a rejection lists at least one error"
        assert all(e.message for e in exc.errors)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_job_validator_never_crashes_on_bytes(raw: bytes) -> None:
    try:
        parse_job(raw)
    except JobConfigError as exc:
        assert exc.errors
