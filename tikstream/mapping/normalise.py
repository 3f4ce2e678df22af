"""Normalise and hash identifiers for TikTok's two APIs, which disagree (docs/tiktok-api.md §2.3 and §3.4).

* Events API 2.0 ``user`` fields: :func:`event_user_value`, or :func:`event_normaliser` to resolve a field's
  function once per job version. Phones are hashed as ``+E.164``.
* Customer-file audience IDs, per ``calculate_type``: :func:`audience_id_value` / :func:`audience_normaliser`.
  Phones are hashed as E.164 digits *without* ``+`` (TikTok's vector ``37493828222``).

Every function takes one value (a str, or an int/float where a number makes sense: phone, zip, external_id)
and returns ``(value, Outcome)``; the value is None exactly when the outcome is INVALID or MISSING. An invalid
identifier is left out and counted, never sent wrong. None, empty and whitespace-only strings are MISSING;
``0`` is a value, not missing; booleans, lists, dicts and bytes are INVALID. Arrays (TikTok takes several
emails per user) are the caller's business: call once per element. Nothing raises for a bad value; only an
unknown field, ``calculate_type`` or region raises ``ValueError``.

A value that already is a digest of the right kind (64 hex for SHA-256, 32 for MD5, any case, surrounding
whitespace ignored) is PREHASHED: passed through lower-cased, never hashed twice. So normalising an output
again returns it unchanged.

OPEN QUESTIONS: the decisions taken here (change them here and nowhere else)

* §7.4 customer-file email "specific normalisation": NO ``+tag`` removal and NO dot removal in the local
  part, for any domain (:data:`EMAIL_LOCAL_PART_RULES`). Only trim, remove all whitespace, lowercase, as in
  TikTok's vector ``janedoe@gmail.com`` and RudderStack's record path. Segment's dot removal broke matching
  (a peer that dropped such phones silently lost those users).
* §7.3 customer-file phone: E.164 digits with the country code and no ``+`` (the current help page's hash).
* Phones: read as ``tikstream.mapping.phones`` says, kept by the job's ``phone_policy`` (``valid``,
  ``possible``, the default for events, or ``e164``). Customer files (audience jobs) keep ``valid``.
* ``external_id``: trimmed only, case kept (TikTok asks for no normalisation; ``User_1`` and ``user_1`` may
  be different users). A 64-hex id is taken as already hashed.
* Events ``email``: trim and lowercase; inner whitespace, or no ``local@domain.tld`` shape, is invalid.
  Customer files remove inner whitespace first, as §2.3 says.
* ``idfa``/``gaid`` and the MAID calculate types: trim, lowercase, keep dashes, hash. With
  ``device_id_policy: uuid`` (the default) a raw value must be a dashed UUID; with ``any`` any non-empty value
  is hashed. The all-zero ID (tracking not authorised) is invalid under both.
* Names: lowercase, Unicode NFC, every character that is not a letter or digit removed (accents kept).
  ``city``/``state``/``country`` the same, unhashed. ``zip_code``: spaces and dashes removed, lowercase.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
import unicodedata
from collections.abc import Callable
from functools import cache
from typing import Final

import phonenumbers

from tikstream.mapping.hashing import (
    INVALID,
    MISSING,
    Normaliser,
    Outcome,
    Result,
    is_md5_hex,
    is_sha256_hex,
    md5_hex,
    sha256_hex,
)
from tikstream.mapping.phones import PHONE_CACHE_SIZE, PHONE_POLICIES, phone_e164
from tikstream.mapping.phones import _e164 as _e164  # the phone cache, for bench/bench_normalise.py

__all__ = [
    "ATT_STATUSES", "CALCULATE_TYPES", "DEVICE_ID_POLICIES", "EMAIL_LOCAL_PART_RULES", "EVENT_USER_FIELDS",
    "HASHED_EVENT_FIELDS", "PHONE_CACHE_SIZE", "PHONE_POLICIES", "Normaliser", "Outcome", "Result",
    "audience_id_value", "audience_normaliser", "event_normaliser", "event_user_value", "is_md5_hex",
    "is_sha256_hex", "md5_hex", "normalise_region", "segment_normaliser", "sha256_hex",
]

EMAIL_LOCAL_PART_RULES: Final = "keep"  # §7.4: no "+tag" removal, no dot removal (see OPEN QUESTIONS above)
ATT_STATUSES: Final = frozenset({"AUTHORIZED", "DENIED", "NOT_DETERMINED", "RESTRICTED", "NOT_APPLICABLE"})
DEVICE_ID_POLICIES: Final = ("uuid", "any")

_HASHED, _PREHASHED, _PLAIN = Outcome.HASHED, Outcome.PREHASHED, Outcome.PLAIN
_MAX_NUMBER: Final = 10**30  # a larger int/float is no identifier (and str() of a huge int is slow)
_REGIONS: Final = frozenset(phonenumbers.SUPPORTED_REGIONS)
_ZERO_UUID: Final = "00000000-0000-0000-0000-000000000000"

_EMAIL: Final = re.compile(r"[^\s@]+@[^\s@.]+(?:\.[^\s@.]+)+")  # local@domain.tld, linear time
_MAX_EMAIL: Final = 254  # RFC 5321 path limit
_WHITESPACE: Final = re.compile(r"\s+")
_ZIP_DROP: Final = re.compile(r"[\s\-]+")
_NOT_ALNUM: Final = re.compile(r"[\W_]+")
_HEX64: Final = re.compile(r"[0-9A-Fa-f]{64}").fullmatch  # is_sha256_hex without its length check
_HEX32: Final = re.compile(r"[0-9A-Fa-f]{32}").fullmatch
_md5: Final = functools.partial(hashlib.md5, usedforsecurity=False)
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _text(raw: object, numbers: bool) -> str | Result:
    """The trimmed text of ``raw``, or the Result to return (MISSING or INVALID) when there is none.

    With ``numbers``, a non-negative int, or a float holding one, is written in decimal (a phone or zip stored
    as a number); without, numbers are invalid. Booleans are always invalid.
    """
    if type(raw) is str:
        s = raw.strip()
        return s if s else MISSING
    if raw is None:
        return MISSING
    if isinstance(raw, str):
        return _text(str.__str__(raw), numbers)
    if not numbers or isinstance(raw, bool):
        return INVALID
    if isinstance(raw, int):
        return str(raw) if 0 <= raw < _MAX_NUMBER else INVALID
    if isinstance(raw, float) and raw.is_integer() and 0 <= raw < _MAX_NUMBER:
        return str(int(raw))
    return INVALID


def _hashed(clean: Callable[[str], str] | None, *, numbers: bool = False, md5: bool = False) -> Normaliser:
    """Trim; pass a digest of the right kind (SHA-256, or MD5 with ``md5``) through lower-cased; else
    ``clean`` ("" = invalid; None: keep the trimmed text) and digest.

    The hot path of every hashed identifier: the common case (a str) is inlined, not a call to ``_text``,
    ``is_sha256_hex`` or ``sha256_hex`` (each Python call costs as much as the check it makes).
    """
    size = 32 if md5 else 64
    is_hex = _HEX32 if md5 else _HEX64
    new_hash = _md5 if md5 else hashlib.sha256

    def normalise(raw: object) -> Result:
        if type(raw) is str:
            s = raw.strip()
            if not s:
                return MISSING
        else:
            text = _text(raw, numbers)
            if not isinstance(text, str):
                return text
            s = text
        if len(s) == size and is_hex(s) is not None:
            return (s.lower(), _PREHASHED)
        if clean is not None:
            s = clean(s)
            if not s:
                return INVALID
        try:
            return (new_hash(s.encode()).hexdigest(), _HASHED)
        except UnicodeEncodeError:  # a lone surrogate: not text
            return INVALID

    return normalise


def _plain(clean: Callable[[str], str]) -> Normaliser:
    """Trim, then ``clean`` ("" = invalid); the value is sent unhashed."""

    def normalise(raw: object) -> Result:
        s = _text(raw, False)
        if not isinstance(s, str):
            return s
        s = clean(s)
        return (s, _PLAIN) if s else INVALID

    return normalise


# -- cleaners: str -> normalised str, or "" when the value is invalid -------------------------------------


def _email(s: str) -> str:
    s = s.lower()
    if len(s) > _MAX_EMAIL:
        return ""
    if " " in s or not s.isprintable():  # may hold whitespace (all of it but " " is unprintable): the regex
        return s if _EMAIL.fullmatch(s) is not None else ""
    # _EMAIL without whitespace, in str methods (several times faster): local@label.label[.label...]
    local, at, domain = s.partition("@")
    if not local or not at or "@" in domain:
        return ""
    labels = domain.split(".")
    return s if len(labels) > 1 and "" not in labels else ""


def _file_email(s: str) -> str:
    return _email(_WHITESPACE.sub("", s))


def _alnum_lower(s: str) -> str:
    if not s.isascii():
        s = unicodedata.normalize("NFC", s)
    return _NOT_ALNUM.sub("", s.lower())


def _zip_code(s: str) -> str:
    return _ZIP_DROP.sub("", s).lower()


def _maid(s: str) -> str:
    s = s.lower()
    return s if _UUID.fullmatch(s) is not None and s != _ZERO_UUID else ""


def _any_maid(s: str) -> str:
    s = s.lower()
    return s if s != _ZERO_UUID else ""


def _ip(s: str) -> str:
    try:
        return str(ipaddress.ip_address(s))
    except ValueError:
        return ""


def _utf8(s: str) -> str:
    if not s.isascii():
        try:
            s.encode()
        except UnicodeEncodeError:  # a lone surrogate would break the JSON body
            return ""
    return s


def _att_status(s: str) -> str:
    s = s.upper()
    return s if s in ATT_STATUSES else ""


# -- phones (tikstream.mapping.phones) -----------------------------------------------------------------


@cache  # bounded: two forms times three policies times the regions phonenumbers knows
def _phone_normaliser(region: str | None, with_plus: bool, policy: str = "valid") -> Normaliser:
    if policy not in PHONE_POLICIES:
        raise ValueError(f"unknown phone policy {policy!r}")

    def e164(s: str) -> str:
        return phone_e164(s, region, policy)

    def e164_digits(s: str) -> str:
        return phone_e164(s, region, policy)[1:]

    return _hashed(e164 if with_plus else e164_digits, numbers=True)


def normalise_region(region: str | None) -> str | None:
    """The upper-cased ISO 3166 region for ``phonenumbers``; ``ValueError`` for one it does not know."""
    if region is None:
        return None
    upper = region.upper()
    if upper not in _REGIONS:
        raise ValueError(f"unknown phone region {region!r} (want an ISO 3166-1 alpha-2 code such as 'US')")
    return upper


# -- dispatch ---------------------------------------------------------------------------------------------

_maid_sha256 = _hashed(_maid)
_any_maid_sha256 = _hashed(_any_maid)
_place = _plain(_alnum_lower)
_raw_text = _plain(_utf8)
_EVENT_FIELDS: Final[dict[str, Normaliser]] = {
    "email": _hashed(_email), "external_id": _hashed(None, numbers=True),
    "first_name": _hashed(_alnum_lower), "last_name": _hashed(_alnum_lower),
    "zip_code": _hashed(_zip_code, numbers=True), "idfa": _maid_sha256, "gaid": _maid_sha256,
    "city": _place, "state": _place, "country": _place, "ip": _plain(_ip), "att_status": _plain(_att_status),
    "user_agent": _raw_text, "ttclid": _raw_text, "ttp": _raw_text, "locale": _raw_text, "idfv": _raw_text,
}  # "phone" depends on the region: _phone_normaliser
_maid_md5 = _hashed(_maid, md5=True)
_AUDIENCE_TYPES: Final[dict[str, Normaliser]] = {
    "EMAIL_SHA256": _hashed(_file_email), "IDFA_SHA256": _maid_sha256, "GAID_SHA256": _maid_sha256,
    "IDFA_MD5": _maid_md5, "GAID_MD5": _maid_md5,
}  # "PHONE_SHA256" depends on the region: _phone_normaliser

EVENT_USER_FIELDS: Final = frozenset({*_EVENT_FIELDS, "phone"})
HASHED_EVENT_FIELDS: Final = frozenset(
    {"email", "phone", "external_id", "first_name", "last_name", "zip_code", "idfa", "gaid"}
)
CALCULATE_TYPES: Final = frozenset({*_AUDIENCE_TYPES, "PHONE_SHA256"})


def event_normaliser(field: str, default_region: str | None = None, *, phone_policy: str = "possible",
                     device_id_policy: str = "uuid") -> Normaliser:
    """The function for one Events API ``user`` field, to resolve once per job version. The defaults of the
    policies are the job models' (``possible`` phones, ``uuid`` device ids).

    Raises ``ValueError`` for a field not in :data:`EVENT_USER_FIELDS`, an unknown region or policy.
    """
    if field == "phone":
        return _phone_normaliser(normalise_region(default_region), True, phone_policy)
    if device_id_policy not in DEVICE_ID_POLICIES:
        raise ValueError(f"unknown device id policy {device_id_policy!r}")
    if field in ("idfa", "gaid") and device_id_policy == "any":
        return _any_maid_sha256
    try:
        return _EVENT_FIELDS[field]
    except KeyError:
        raise ValueError(f"unknown TikTok user field {field!r}") from None


def event_user_value(field: str, raw: object, default_region: str | None, *, phone_policy: str = "possible",
                     device_id_policy: str = "uuid") -> Result:
    """Normalise, and hash where TikTok wants it, one value of an Events API 2.0 ``user`` field (§3.4)."""
    return event_normaliser(field, default_region, phone_policy=phone_policy,
                            device_id_policy=device_id_policy)(raw)


def audience_normaliser(calculate_type: str, default_region: str | None = None) -> Normaliser:
    """The function for one customer-file ``calculate_type``, to resolve once per job version.

    Raises ``ValueError`` for a type not in :data:`CALCULATE_TYPES` or an unknown region.
    """
    if calculate_type == "PHONE_SHA256":
        return _phone_normaliser(normalise_region(default_region), False)
    try:
        return _AUDIENCE_TYPES[calculate_type]
    except KeyError:
        raise ValueError(f"unsupported calculate_type {calculate_type!r}") from None


def segment_normaliser(calculate_type: str, default_region: str | None = None) -> Normaliser:
    """The function for one ``calculate_type`` of a streaming (segment) audience (docs/tiktok-api.md §2.9): as
    for customer files, except phones, hashed from ``+E.164`` (with the plus) like the Events API's.

    Raises ``ValueError`` for a type not in :data:`CALCULATE_TYPES` or an unknown region.
    """
    if calculate_type == "PHONE_SHA256":
        return _phone_normaliser(normalise_region(default_region), True)
    return audience_normaliser(calculate_type, default_region)


def audience_id_value(calculate_type: str, raw: object, default_region: str | None) -> Result:
    """Normalise and hash one customer-file audience ID for ``calculate_type`` (docs/tiktok-api.md §2.3)."""
    return audience_normaliser(calculate_type, default_region)(raw)
