"""Table tests for tikstream.mapping.normalise: TikTok's vectors, phones, pre-hashed values, edge values."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from types import ModuleType

import pytest

from tikstream.mapping import hashing, normalise
from tikstream.mapping.normalise import (
    CALCULATE_TYPES,
    EMAIL_LOCAL_PART_RULES,
    EVENT_USER_FIELDS,
    HASHED_EVENT_FIELDS,
    Outcome,
    audience_id_value,
    audience_normaliser,
    event_normaliser,
    event_user_value,
    is_md5_hex,
    is_sha256_hex,
    md5_hex,
    sha256_hex,
)

H, P, PL, INV, MIS = Outcome.HASHED, Outcome.PREHASHED, Outcome.PLAIN, Outcome.INVALID, Outcome.MISSING


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


HEX64 = sha("already hashed elsewhere")
HEX32 = md5("already hashed elsewhere")
IDFA = "5f3a2b18-9c4d-4e7f-b8e2-17d3a1e69b25"  # TikTok's customer-file example (§2.3)


# -- TikTok's published vectors (docs/tiktok-api.md §2.3, §3.4, §6.5) -----------------------------------------

# (family, key, raw, expected full digest, documented prefix, documented suffix)
VECTORS = [
    pytest.param("event", "email", " ALICE_abc@gmail.com ",
                 "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f", "848a7714", "d3bb4f",
                 id="event-email-alice"),
    pytest.param("event", "phone", "(+1)2133734253",
                 "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd", "9f7ec22d", "2dd2fd",
                 id="event-phone-plus1-in-brackets"),
    pytest.param("event", "external_id", "user_123",
                 "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b", "80fba0ae", "f2ab8b",
                 id="event-external-id-user_123"),
    pytest.param("file", "EMAIL_SHA256", "janedoe@gmail.com",
                 "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69", "d6117306", "656c69",
                 id="file-email-janedoe"),
    pytest.param("file", "PHONE_SHA256", "37493828222",
                 "65b7e6dcf6f4310f8d7cbfbd78289a753062fb054d6664fb9aaac5df66a422d4", "65b7e6dc", "a422d4",
                 id="file-phone-armenia-digits"),
    pytest.param("file", "PHONE_SHA256", "374-93-828222",
                 "65b7e6dcf6f4310f8d7cbfbd78289a753062fb054d6664fb9aaac5df66a422d4", "65b7e6dc", "a422d4",
                 id="file-phone-armenia-dashed"),
    pytest.param("file", "IDFA_SHA256", IDFA, sha(IDFA), "83dc3f5f", "bf354bd", id="file-idfa-sha256"),
    pytest.param("file", "IDFA_SHA256", IDFA.upper(), sha(IDFA), "83dc3f5f", "bf354bd", id="file-idfa-upper"),
    pytest.param("file", "GAID_SHA256", f"  {IDFA} ", sha(IDFA), "83dc3f5f", "bf354bd",
                 id="file-gaid-padded"),
]


@pytest.mark.parametrize(("family", "key", "raw", "digest", "prefix", "suffix"), VECTORS)
def test_tiktok_vectors(family: str, key: str, raw: str, digest: str, prefix: str, suffix: str) -> None:
    fn = event_user_value if family == "event" else audience_id_value
    value, outcome = fn(key, raw, None)
    assert (value, outcome) == (digest, H)
    assert value.startswith(prefix) and value.endswith(suffix)


def test_vectors_hash_the_documented_intermediate_forms() -> None:
    assert sha("alice_abc@gmail.com").startswith("848a7714")
    assert sha("+12133734253").startswith("9f7ec22d")  # events: +E.164
    assert sha("37493828222").startswith("65b7e6dc")  # customer file: digits, no "+"


# -- phones -----------------------------------------------------------------------------------------------

# (raw, default_region, +E.164)
VALID_PHONES = [
    pytest.param("+1 213-373-4253", None, "+12133734253", id="us-international"),
    pytest.param("(213) 373-4253", "US", "+12133734253", id="us-national"),
    pytest.param("1 (213) 373 4253", "US", "+12133734253", id="us-national-with-1"),
    pytest.param("12133734253", None, "+12133734253", id="us-cc-no-plus-no-region"),
    pytest.param(12133734253, None, "+12133734253", id="us-as-int"),
    pytest.param(12133734253.0, "US", "+12133734253", id="us-as-integral-float"),
    pytest.param("(213) 373-4253", "us", "+12133734253", id="region-lowercase"),
    pytest.param("07400 123456", "GB", "+447400123456", id="gb-mobile-national"),
    pytest.param("+44 (0) 121 234 5678", None, "+441212345678", id="gb-fixed-with-0-in-brackets"),
    pytest.param("0044 7400 123456", "US", "+447400123456", id="gb-00-prefix-other-region"),
    pytest.param("0044 7400 123456", None, "+447400123456", id="gb-00-prefix-no-region"),
    pytest.param("01512 3456789", "DE", "+4915123456789", id="de-mobile-national"),
    pytest.param("+49 30 123456", "FR", "+4930123456", id="de-fixed-international-other-region"),
    pytest.param("06 12 34 56 78", "FR", "+33612345678", id="fr-mobile-national"),
    pytest.param("33612345678", "FR", "+33612345678", id="fr-cc-no-plus-in-region"),
    pytest.param("081234 56789", "IN", "+918123456789", id="in-mobile-national"),
    pytest.param("+91 74104 10123", "US", "+917410410123", id="in-fixed-international"),
    pytest.param("(11) 96123-4567", "BR", "+5511961234567", id="br-mobile-national"),
    pytest.param("+55 11 2345-6789", None, "+551123456789", id="br-fixed-international"),
    pytest.param("090-1234-5678", "JP", "+819012345678", id="jp-mobile-national"),
    pytest.param("+81 3-1234-5678", "GB", "+81312345678", id="jp-fixed-international"),
    pytest.param("819012345678", "US", "+819012345678", id="jp-cc-no-plus-invalid-in-region"),
    pytest.param("\u0660\u0667\u0664\u0660\u0660 \u0661\u0662\u0663\u0664\u0665\u0666", "GB", "+447400123456",
                 id="arabic-indic-digits"),
]


@pytest.mark.parametrize(("raw", "region", "e164"), VALID_PHONES)
def test_event_phone_is_hashed_as_plus_e164(raw: object, region: str | None, e164: str) -> None:
    assert event_user_value("phone", raw, region) == (sha(e164), H)


@pytest.mark.parametrize(("raw", "region", "e164"), VALID_PHONES)
def test_file_phone_is_hashed_as_digits_without_plus(raw: object, region: str | None, e164: str) -> None:
    assert audience_id_value("PHONE_SHA256", raw, region) == (sha(e164[1:]), H)


INVALID_PHONES = [
    pytest.param("12345", "US", id="too-short"),
    pytest.param("213373425", "US", id="one-digit-short"),
    pytest.param("+1 213 373 42531234", None, id="too-long"),
    pytest.param("1-800-FLOWERS", "US", id="vanity-letters"),
    pytest.param("call me", "US", id="words"),
    pytest.param("+1 213 373 4253 ext 5", None, id="extension-letters"),
    pytest.param("2133734253", None, id="national-without-region"),
    pytest.param("07400 123456", None, id="trunk-zero-without-region"),
    pytest.param("+0012133734253", None, id="plus-then-zeros"),
    pytest.param("213+3734253", "US", id="plus-after-digit"),
    pytest.param("++12133734253", None, id="two-plus"),
    pytest.param("+999 1234 5678", None, id="no-such-country-code"),
    pytest.param("---", "US", id="no-digits"),
    pytest.param("0", "US", id="zero-string"),
    pytest.param(0, "US", id="zero-int"),
    pytest.param(-12133734253, "US", id="negative-int"),
    pytest.param(2133734253.5, "US", id="fractional-float"),
    pytest.param(float("nan"), "US", id="nan"),
    pytest.param(float("inf"), "US", id="inf"),
    pytest.param(False, "US", id="false"),
    pytest.param(True, "US", id="true"),
    pytest.param(["+12133734253"], None, id="list"),
    pytest.param({"phone": "+12133734253"}, None, id="dict"),
    pytest.param(b"+12133734253", None, id="bytes"),
]


@pytest.mark.parametrize(("raw", "region"), INVALID_PHONES)
def test_invalid_phones_are_left_out(raw: object, region: str | None) -> None:
    assert event_user_value("phone", raw, region) == (None, INV)
    assert audience_id_value("PHONE_SHA256", raw, region) == (None, INV)


# -- event fields -----------------------------------------------------------------------------------------

# (field, raw, expected value, outcome)
EVENT_CASES = [
    pytest.param("email", "Bob@Example.COM", sha("bob@example.com"), H, id="email-lowercased"),
    pytest.param("email", "\tbob@example.com\n", sha("bob@example.com"), H, id="email-trimmed"),
    pytest.param("email", "bob.smith+news@gmail.com", sha("bob.smith+news@gmail.com"), H,
                 id="email-tag-kept"),
    pytest.param("email", "bob @example.com", None, INV, id="email-inner-space"),
    pytest.param("email", "not-an-email", None, INV, id="email-no-at"),
    pytest.param("email", "bob@localhost", None, INV, id="email-no-dot-in-domain"),
    pytest.param("email", "bob@example..com", None, INV, id="email-double-dot-in-domain"),
    pytest.param("email", "bob@example.com.", None, INV, id="email-trailing-dot"),
    pytest.param("email", "b" * 250 + "@x.com", None, INV, id="email-too-long"),
    pytest.param("email", "a@" + "b." * 5000 + " b", None, INV, id="email-no-catastrophic-backtracking"),
    pytest.param("email", "first.last@mail.example.co.uk", sha("first.last@mail.example.co.uk"), H,
                 id="email-subdomains"),
    pytest.param("email", 1.0, None, INV, id="email-float"),
    pytest.param("email", 0, None, INV, id="email-zero"),
    pytest.param("email", "\ud800@example.com", None, INV, id="email-lone-surrogate"),
    pytest.param("external_id", " User_123 ", sha("User_123"), H, id="external-id-trim-keeps-case"),
    pytest.param("external_id", 0, sha("0"), H, id="external-id-zero-is-a-value"),
    pytest.param("external_id", 42, sha("42"), H, id="external-id-int"),
    pytest.param("external_id", 42.0, sha("42"), H, id="external-id-integral-float"),
    pytest.param("external_id", 4.2, None, INV, id="external-id-fraction"),
    pytest.param("first_name", " Mary-Jane ", sha("maryjane"), H, id="first-name-punctuation"),
    pytest.param("last_name", "O'Brien Smith", sha("obriensmith"), H, id="last-name-space-apostrophe"),
    pytest.param("last_name", "Mu\u0308ller", sha("m\u00fcller"), H, id="last-name-nfc"),
    pytest.param("first_name", "José", sha("josé"), H, id="first-name-accent-kept"),
    pytest.param("first_name", "--", None, INV, id="first-name-only-punctuation"),
    pytest.param("zip_code", "SW1A 1AA", sha("sw1a1aa"), H, id="zip-gb"),
    pytest.param("zip_code", "12345-6789", sha("123456789"), H, id="zip-us-plus4"),
    pytest.param("zip_code", 90210, sha("90210"), H, id="zip-int"),
    pytest.param("zip_code", " - ", None, INV, id="zip-only-dash"),
    pytest.param("idfa", IDFA.upper(), sha(IDFA), H, id="idfa-upper-lowercased"),
    pytest.param("gaid", f" {IDFA} ", sha(IDFA), H, id="gaid-trimmed"),
    pytest.param("idfa", "00000000-0000-0000-0000-000000000000", None, INV, id="idfa-zeroed"),
    pytest.param("idfa", IDFA.replace("-", ""), None, INV, id="idfa-without-dashes"),
    pytest.param("gaid", "not-a-device-id", None, INV, id="gaid-garbage"),
    pytest.param("city", " São Paulo ", "sãopaulo", PL, id="city-alnum-lower"),
    pytest.param("state", "N.Y.", "ny", PL, id="state"),
    pytest.param("country", "US", "us", PL, id="country"),
    pytest.param("city", "...", None, INV, id="city-punctuation-only"),
    pytest.param("ip", " 203.0.113.7 ", "203.0.113.7", PL, id="ipv4"),
    pytest.param("ip", "2001:0DB8:0000::0001", "2001:db8::1", PL, id="ipv6-compressed"),
    pytest.param("ip", "203.0.113.7:443", None, INV, id="ip-with-port"),
    pytest.param("ip", "999.1.1.1", None, INV, id="ip-out-of-range"),
    pytest.param("user_agent", " Mozilla/5.0 (X11) ", "Mozilla/5.0 (X11)", PL, id="user-agent-trimmed"),
    pytest.param("ttclid", "E.C.P.xxxx", "E.C.P.xxxx", PL, id="ttclid-as-is"),
    pytest.param("ttp", "2F7h37YkS1j57AYSKTI7IHhJPYH", "2F7h37YkS1j57AYSKTI7IHhJPYH", PL, id="ttp-as-is"),
    pytest.param("locale", "en-US", "en-US", PL, id="locale-as-is"),
    pytest.param("idfv", "ABC-123", "ABC-123", PL, id="idfv-as-is"),
    pytest.param("user_agent", "x\ud800", None, INV, id="user-agent-lone-surrogate"),
    pytest.param("ttclid", 123, None, INV, id="ttclid-number"),
    pytest.param("att_status", " authorized ", "AUTHORIZED", PL, id="att-authorized-uppercased"),
    pytest.param("att_status", "NOT_APPLICABLE", "NOT_APPLICABLE", PL, id="att-not-applicable"),
    pytest.param("att_status", "not_determined", "NOT_DETERMINED", PL, id="att-not-determined"),
    pytest.param("att_status", "Restricted", "RESTRICTED", PL, id="att-restricted"),
    pytest.param("att_status", "denied", "DENIED", PL, id="att-denied"),
    pytest.param("att_status", "AUTO", None, INV, id="att-unknown"),
    pytest.param("att_status", True, None, INV, id="att-bool"),
]


@pytest.mark.parametrize(("field", "raw", "value", "outcome"), EVENT_CASES)
def test_event_fields(field: str, raw: object, value: str | None, outcome: Outcome) -> None:
    assert event_user_value(field, raw, "US") == (value, outcome)
    assert event_normaliser(field, "US")(raw) == (value, outcome)


# -- customer-file IDs ------------------------------------------------------------------------------------

AUDIENCE_CASES = [
    pytest.param("EMAIL_SHA256", " Jane Doe@Gmail.com ", sha("janedoe@gmail.com"), H,
                 id="email-spaces-removed"),
    pytest.param("EMAIL_SHA256", "jane.doe+promo@gmail.com", sha("jane.doe+promo@gmail.com"), H,
                 id="open-question-7.4-no-plus-tag-or-dot-removal"),
    pytest.param("EMAIL_SHA256", "janedoe", None, INV, id="email-invalid"),
    pytest.param("EMAIL_SHA256", HEX32, None, INV, id="email-md5-is-wrong-kind"),
    pytest.param("IDFA_MD5", IDFA.upper(), md5(IDFA), H, id="idfa-md5"),
    pytest.param("GAID_MD5", f" {IDFA}\n", md5(IDFA), H, id="gaid-md5-trimmed"),
    pytest.param("GAID_SHA256", IDFA, sha(IDFA), H, id="gaid-sha256"),
    pytest.param("IDFA_SHA256", HEX32, None, INV, id="sha256-type-given-md5-digest"),
    pytest.param("IDFA_MD5", HEX64, None, INV, id="md5-type-given-sha256-digest"),
    pytest.param("GAID_MD5", "00000000-0000-0000-0000-000000000000", None, INV, id="gaid-zeroed"),
    pytest.param("IDFA_SHA256", 12345, None, INV, id="idfa-number"),
    pytest.param("PHONE_SHA256", "(657) 777-0000", sha("16577770000"), H, id="phone-help-centre-us"),
]


@pytest.mark.parametrize(("ctype", "raw", "value", "outcome"), AUDIENCE_CASES)
def test_audience_ids(ctype: str, raw: object, value: str | None, outcome: Outcome) -> None:
    assert audience_id_value(ctype, raw, "US") == (value, outcome)
    assert audience_normaliser(ctype, "US")(raw) == (value, outcome)


def test_open_question_decision_is_named() -> None:
    assert EMAIL_LOCAL_PART_RULES == "keep"
    assert "OPEN QUESTIONS" in (normalise.__doc__ or "")


# -- pre-hashed values pass through, never hashed twice ---------------------------------------------------

SHA256_KEYS = [pytest.param("event", f, id=f"event-{f}") for f in sorted(HASHED_EVENT_FIELDS)] + [
    pytest.param("file", t, id=f"file-{t}") for t in sorted(CALCULATE_TYPES) if t.endswith("_SHA256")
]
MD5_KEYS = [pytest.param("file", t, id=f"file-{t}") for t in sorted(CALCULATE_TYPES) if t.endswith("_MD5")]


def _value(family: str, key: str, raw: object) -> tuple[str | None, Outcome]:
    return (event_user_value if family == "event" else audience_id_value)(key, raw, "US")


@pytest.mark.parametrize(("family", "key"), SHA256_KEYS)
def test_prehashed_sha256_passes_through_lowercased(family: str, key: str) -> None:
    assert _value(family, key, HEX64.upper()) == (HEX64, P)
    assert _value(family, key, f"  {HEX64}\n") == (HEX64, P)
    assert _value(family, key, HEX64) == (HEX64, P)


@pytest.mark.parametrize(("family", "key"), MD5_KEYS)
def test_prehashed_md5_passes_through_lowercased(family: str, key: str) -> None:
    assert _value(family, key, HEX32.upper()) == (HEX32, P)


SAMPLE_RAW = {
    "email": "a@b.co", "EMAIL_SHA256": "a@b.co", "phone": "+12133734253", "PHONE_SHA256": "+12133734253",
}


@pytest.mark.parametrize(("family", "key"), SHA256_KEYS + MD5_KEYS)
def test_hashing_an_output_again_returns_it(family: str, key: str) -> None:
    maid = key in {"idfa", "gaid"} or key.startswith(("IDFA", "GAID"))
    value, outcome = _value(family, key, IDFA if maid else SAMPLE_RAW.get(key, "x1"))
    assert outcome is H and value is not None
    assert _value(family, key, value) == (value, P)
    assert _value(family, key, value.upper()) == (value, P)


# -- missing values ---------------------------------------------------------------------------------------

MISSING_VALUES = [
    pytest.param(None, id="none"), pytest.param("", id="empty"), pytest.param("   ", id="spaces"),
    pytest.param("\t\r\n\u00a0\u3000", id="unicode-whitespace"),
]


@pytest.mark.parametrize("raw", MISSING_VALUES)
@pytest.mark.parametrize("field", sorted(EVENT_USER_FIELDS))
def test_missing_event_values(field: str, raw: object) -> None:
    assert event_user_value(field, raw, None) == (None, MIS)


@pytest.mark.parametrize("raw", MISSING_VALUES)
@pytest.mark.parametrize("ctype", sorted(CALCULATE_TYPES))
def test_missing_audience_values(ctype: str, raw: object) -> None:
    assert audience_id_value(ctype, raw, None) == (None, MIS)


@pytest.mark.parametrize("raw", [pytest.param(False, id="false"), pytest.param(True, id="true")])
@pytest.mark.parametrize("field", sorted(EVENT_USER_FIELDS))
def test_booleans_are_invalid_everywhere(field: str, raw: bool) -> None:
    assert event_user_value(field, raw, "US") == (None, INV)


# -- contract ---------------------------------------------------------------------------------------------


def test_field_and_type_sets_match_the_design() -> None:
    assert {
        "email", "phone", "external_id", "ttclid", "ttp", "ip", "user_agent", "locale", "idfa", "gaid",
        "idfv", "att_status", "first_name", "last_name", "zip_code", "city", "state", "country",
    } == EVENT_USER_FIELDS  # docs/architecture.md §4.2
    assert HASHED_EVENT_FIELDS <= EVENT_USER_FIELDS
    assert {"ip", "user_agent", "ttclid", "city", "att_status"}.isdisjoint(HASHED_EVENT_FIELDS)
    assert {"EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256", "IDFA_MD5", "GAID_SHA256", "GAID_MD5"} == (
        CALCULATE_TYPES
    )


def test_outcome_labels() -> None:
    assert [o.value for o in Outcome] == ["hashed", "prehashed", "plain", "invalid", "missing"]


@pytest.mark.parametrize("module", [normalise, hashing], ids=["normalise", "hashing"])
def test_dunder_all_names_exist(module: ModuleType) -> None:
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(lambda: event_user_value("emial", "a@b.co", None), "unknown TikTok user field",
                     id="field"),
        pytest.param(lambda: event_normaliser("phone", "XX"), "unknown phone region", id="region-events"),
        pytest.param(lambda: audience_id_value("PHONE_SHA256", "1", "ZZ"), "unknown phone region",
                     id="region-file"),
        pytest.param(lambda: audience_normaliser("MAID_SHA256"), "unsupported calculate_type", id="type"),
    ],
)
def test_configuration_errors_raise(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_phone_normaliser_is_resolved_once_per_region() -> None:
    assert event_normaliser("phone", "us") is event_normaliser("phone", "US")
    assert event_normaliser("email") is event_normaliser("email", "GB")


# -- hashing helpers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("s", "is_sha", "is_md"),
    [
        pytest.param(HEX64, True, False, id="sha256-lower"),
        pytest.param(HEX64.upper(), True, False, id="sha256-upper"),
        pytest.param(HEX32, False, True, id="md5"),
        pytest.param(HEX64[:-1] + "g", False, False, id="non-hex"),
        pytest.param(f" {HEX64}", False, False, id="padded"),
        pytest.param(HEX64 + "0", False, False, id="too-long"),
        pytest.param("", False, False, id="empty"),
        pytest.param("\u0660" * 64, False, False, id="unicode-digits"),
    ],
)
def test_hash_detection(s: str, is_sha: bool, is_md: bool) -> None:
    assert (is_sha256_hex(s), is_md5_hex(s)) == (is_sha, is_md)


def test_digests() -> None:
    assert sha256_hex("user_123") == "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b"
    assert md5_hex(IDFA) == md5(IDFA)
    with pytest.raises(UnicodeEncodeError):
        sha256_hex("\ud800")
