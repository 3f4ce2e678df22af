"""Property tests for tikstream.mapping.normalise: no input crashes it, outputs have the promised shape, and
normalising an output again gives it back."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tikstream.mapping.normalise import (
    CALCULATE_TYPES,
    EVENT_USER_FIELDS,
    HASHED_EVENT_FIELDS,
    Outcome,
    Result,
    audience_id_value,
    audience_normaliser,
    event_normaliser,
    event_user_value,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEX = {64: re.compile(r"[0-9a-f]{64}"), 32: re.compile(r"[0-9a-f]{32}")}
REGIONS = st.sampled_from([None, "US", "GB", "DE", "FR", "IN", "BR", "JP"])
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=40)  # surrogates included
PHONE_TEXT = st.text(alphabet="0123456789 +()-./x", max_size=22)
HEXISH = st.text(alphabet="0123456789abcdefABCDEF \t", min_size=30, max_size=70)
UUIDISH = st.uuids().map(str).flatmap(lambda u: st.sampled_from([u, u.upper(), f" {u} ", u.replace("-", "")]))
EMAILISH = st.from_regex(r"\s?[A-Za-z0-9._+ -]{1,12}@[A-Za-z0-9-]{1,8}\.[A-Za-z]{2,4}\s?", fullmatch=True)
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.integers(min_value=0, max_value=10**16)
    | st.floats(allow_nan=True, allow_infinity=True) | ANY_TEXT | PHONE_TEXT | HEXISH | UUIDISH | EMAILISH
)
JSON_LIKE = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def hex_length(family: str, key: str) -> int | None:
    """Length of the digest the key sends, or None for a plain (unhashed) event field."""
    if family == "event":
        return 64 if key in HASHED_EVENT_FIELDS else None
    return 32 if key.endswith("_MD5") else 64


def check_shape(family: str, key: str, raw: object, result: Result) -> None:
    value, outcome = result
    assert isinstance(outcome, Outcome)
    assert (value is None) == (outcome in (Outcome.INVALID, Outcome.MISSING))
    if outcome is Outcome.MISSING:
        assert raw is None or (isinstance(raw, str) and not raw.strip())
    if value is None:
        return
    length = hex_length(family, key)
    if length is None:
        assert outcome is Outcome.PLAIN
        assert value and value == value.strip()
        value.encode()  # serialisable as UTF-8 JSON
    else:
        assert outcome in (Outcome.HASHED, Outcome.PREHASHED)
        assert len(value) == length and HEX[length].fullmatch(value)


def check_idempotent(family: str, key: str, region: str | None, result: Result) -> None:
    value, outcome = result
    if value is None:
        return
    again = (event_user_value if family == "event" else audience_id_value)(key, value, region)
    expected = Outcome.PLAIN if outcome is Outcome.PLAIN else Outcome.PREHASHED
    assert again == (value, expected)


@SETTINGS
@given(field=st.sampled_from(sorted(EVENT_USER_FIELDS)), raw=JSON_LIKE, region=REGIONS)
def test_event_values_never_crash_and_keep_their_shape(field: str, raw: object, region: str | None) -> None:
    result = event_user_value(field, raw, region)
    check_shape("event", field, raw, result)
    check_idempotent("event", field, region, result)
    assert event_normaliser(field, region)(raw) == result


@SETTINGS
@given(ctype=st.sampled_from(sorted(CALCULATE_TYPES)), raw=JSON_LIKE, region=REGIONS)
def test_audience_values_never_crash_and_keep_their_shape(
    ctype: str, raw: object, region: str | None
) -> None:
    result = audience_id_value(ctype, raw, region)
    check_shape("file", ctype, raw, result)
    check_idempotent("file", ctype, region, result)
    assert audience_normaliser(ctype, region)(raw) == result


@SETTINGS
@given(raw=PHONE_TEXT | st.integers(min_value=0, max_value=10**16), region=REGIONS)
def test_a_phone_is_valid_for_both_apis_or_for_neither(raw: object, region: str | None) -> None:
    # customer files keep the `valid` rule; events jobs compare under the same policy
    event_value, _ = event_user_value("phone", raw, region, phone_policy="valid")
    file_value, _ = audience_id_value("PHONE_SHA256", raw, region)
    assert (event_value is None) == (file_value is None)


@SETTINGS
@given(raw=PHONE_TEXT | st.integers(min_value=0, max_value=10**16), region=REGIONS)
def test_possible_keeps_every_valid_phone_unchanged(raw: object, region: str | None) -> None:
    """`possible` only adds numbers: a phone `valid` keeps comes out the same, so the new default changes
    nothing for numbers that were sent before."""
    valid = event_user_value("phone", raw, region, phone_policy="valid")
    possible = event_user_value("phone", raw, region, phone_policy="possible")
    if valid[0] is not None:
        assert possible == valid
    if possible[0] is None:
        assert valid[0] is None


@SETTINGS
@given(raw=PHONE_TEXT | st.integers(min_value=0, max_value=10**16), region=REGIONS,
       policy=st.sampled_from(["valid", "possible", "e164"]))
def test_every_dropped_phone_has_a_reason(raw: object, region: str | None, policy: str) -> None:
    from tikstream.mapping.reasons import REASONS, drop_explainer

    if policy == "e164":
        region = None
    _, outcome = event_user_value("phone", raw, region, phone_policy=policy)
    if outcome is Outcome.INVALID:
        assert drop_explainer("phone", region, phone_policy=policy)(raw) in REASONS


@SETTINGS
@given(raw=EMAILISH)
def test_ascii_email_case_does_not_matter(raw: str) -> None:
    assert event_user_value("email", raw.upper(), None) == event_user_value("email", raw.lower(), None)
    assert audience_id_value("EMAIL_SHA256", raw.upper(), None) == audience_id_value(
        "EMAIL_SHA256", raw.lower(), None
    )


@SETTINGS
@given(raw=UUIDISH, field=st.sampled_from(["idfa", "gaid"]))
def test_maid_events_and_files_agree(raw: str, field: str) -> None:
    assert event_user_value(field, raw, None) == audience_id_value(f"{field.upper()}_SHA256", raw, None)


# The ASCII/printable fast paths of the email and phone cleaners must agree with the regular expressions they
# stand in for (the definitions in the module docstring); these tests pin them to each other.
EMAIL_PARTS = st.text(alphabet="aZ09.@ +_-\t\n\x1c\x85\u00a0\u2028é", max_size=16)


@SETTINGS
@given(raw=EMAIL_PARTS | EMAILISH | ANY_TEXT)
def test_email_fast_path_matches_the_regex(raw: str) -> None:
    from tikstream.mapping.normalise import _EMAIL, _MAX_EMAIL, _email

    s = raw.lower()
    assert _email(raw) == (s if len(s) <= _MAX_EMAIL and _EMAIL.fullmatch(s) else "")


def test_every_whitespace_but_space_is_unprintable() -> None:
    """The email fast path takes a printable text without " " to hold no whitespace (``\\s``)."""
    for code in range(0x110000):
        c = chr(code)
        assert not (c.isspace() and c.isprintable() and c != " "), hex(code)
        assert (re.fullmatch(r"\s", c) is not None) == c.isspace(), hex(code)


@SETTINGS
@given(raw=PHONE_TEXT | st.text(alphabet="0123456789٣ +()-xX#", max_size=20) | ANY_TEXT, region=REGIONS)
def test_phone_fast_path_matches_the_regexes(raw: str, region: str | None) -> None:
    from tikstream.mapping.phones import _DIGIT, _LETTER, _MAX_PHONE_DIGITS, _NON_DIGIT, _e164, _phone_e164

    digits = _NON_DIGIT.sub("", raw)
    plus = raw.find("+")
    if (_LETTER.search(raw) or not 0 < len(digits) <= _MAX_PHONE_DIGITS
            or (plus >= 0 and (raw.count("+") > 1 or _DIGIT.search(raw, 0, plus)))):
        expected = ""
    else:
        expected = _e164(digits, plus >= 0, region) or ""
    assert _phone_e164(raw, region) == expected
