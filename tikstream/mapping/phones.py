"""Phones as written → ``+E.164``, by a job's ``phone_policy`` (docs/tiktok-api.md §2.3, §3.4), and why one is dropped.

* ``valid``: a number ``phonenumbers.is_valid_number`` accepts (tikstream's only rule before the policy existed).
* ``possible`` (the default): the same reading, then, when no valid number comes out, the same interpretations
  again accepting a number ``phonenumbers`` calls possible for its country (``IS_POSSIBLE``: a length that
  country uses; a number possible only as a local number, without its area code, is not). A valid number comes
  out the same under both, so ``possible`` only adds numbers. Validity data lags new number ranges; possibility
  only checks lengths.
* ``e164``: ``+`` and the digits as written, as Segment sends phones (docs/tiktok-api.md §3.4): no region, no
  check of the country code. Deliberately stricter than Segment: letters, more than 15 digits (Segment cuts to
  15) or a leading ``0`` (a trunk prefix, never the start of a country code) drop the phone instead of sending
  a wrong number.

How a phone is read (``valid`` and ``possible``): a ``+`` means an international number; without one, the
job's ``default_phone_region`` first, then the digits as already carrying a country code (``37493828222``,
``0044 20…``); a single leading ``0`` is a trunk prefix and needs the region. Letters (vanity numbers, ``ext``)
make a phone invalid.

``phone_reason`` says why a phone was dropped, in a bounded vocabulary (``identifier_dropped_total``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

__all__ = ["PHONE_CACHE_SIZE", "PHONE_POLICIES", "PHONE_REASONS", "phone_e164", "phone_reason"]

PHONE_POLICIES: Final = ("valid", "possible", "e164")
# (digits, has "+", region) -> "+E.164" or None. phonenumbers costs 40-60 µs a number, a hit well under 1 µs;
# full, each cache holds about 9 MB. bench/bench_normalise.py measures both paths.
PHONE_CACHE_SIZE: Final = 32_768
PHONE_REASONS: Final = (
    "letters", "malformed", "no_digits", "too_long", "too_short", "no_country_code", "invalid_country_code",
    "invalid_length", "local_only", "not_valid",
)  # fmt: skip

_MAX_PHONE_DIGITS: Final = 17  # "00" and the 15 digits E.164 allows
_E164_DIGITS: Final = 15
_E164: Final = phonenumbers.PhoneNumberFormat.E164
_LETTER: Final = re.compile(r"[^\W\d_]")
_DIGIT: Final = re.compile(r"\d")
_NON_DIGIT: Final = re.compile(r"\D+")
_ASCII_LETTER: Final = re.compile(r"[A-Za-z]").search  # _LETTER on ASCII text
_ASCII_NON_DIGITS: Final = bytes(c for c in range(128) if not 0x30 <= c <= 0x39)  # _NON_DIGIT on ASCII bytes
_POSSIBLE: Final = ValidationResult.IS_POSSIBLE
_REASON_OF: Final = {
    ValidationResult.TOO_SHORT: "too_short", ValidationResult.TOO_LONG: "too_long",
    ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code", ValidationResult.INVALID_LENGTH: "invalid_length",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "local_only", ValidationResult.IS_POSSIBLE: "not_valid",
}  # fmt: skip
_PARSE_REASON: Final = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.TOO_SHORT_NSN: "too_short", NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_LONG: "too_long", NumberParseException.NOT_A_NUMBER: "malformed",
}  # fmt: skip


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except NumberParseException:
        return None


def _parse_valid(text: str, region: str | None) -> str | None:
    number = _parse(text, region)
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, _E164))


def _parse_possible(text: str, region: str | None) -> str | None:
    number = _parse(text, region)
    if number is None or phonenumbers.is_possible_number_with_reason(number) != _POSSIBLE:
        return None
    return str(phonenumbers.format_number(number, _E164))


def _readings(digits: str, plus: bool, region: str | None) -> list[tuple[str, str | None]]:
    """The texts to parse, in order (see the module docstring); empty when only a region could tell."""
    if plus:
        return [("+" + digits, None)]
    out: list[tuple[str, str | None]] = [(digits, region)] if region is not None else []
    if digits.startswith("00"):
        digits = digits[2:]
    if not digits.startswith("0"):  # a national trunk prefix: only the region could say which country
        out.append(("+" + digits, None))
    return out


@lru_cache(maxsize=PHONE_CACHE_SIZE)
def _e164(digits: str, plus: bool, region: str | None) -> str | None:
    """``+E.164`` for the digits of a phone, or None when no valid number can be made."""
    for text, parse_region in _readings(digits, plus, region):
        found = _parse_valid(text, parse_region)
        if found is not None:
            return found
    return None


@lru_cache(maxsize=PHONE_CACHE_SIZE)
def _e164_possible(digits: str, plus: bool, region: str | None) -> str | None:
    """``_e164``, else the first reading that is a possible number."""
    found = _e164(digits, plus, region)
    if found is not None:
        return found
    for text, parse_region in _readings(digits, plus, region):
        found = _parse_possible(text, parse_region)
        if found is not None:
            return found
    return None


def _digits(s: str) -> tuple[str, int] | str:
    """(the digits, the position of ``+`` or -1) of a phone as written, or the reason it is no phone."""
    if s.isascii():  # the same checks as below, cheaper on ASCII (where a letter is A-Z, a digit 0-9)
        if _ASCII_LETTER(s) is not None:
            return "letters"
        digits = s.encode().translate(None, _ASCII_NON_DIGITS).decode()
    else:
        if _LETTER.search(s) is not None:
            return "letters"
        digits = _NON_DIGIT.sub("", s)
    if not digits:
        return "no_digits"
    if len(digits) > _MAX_PHONE_DIGITS:
        return "too_long"
    plus = s.find("+")
    if plus >= 0 and (s.count("+") > 1 or (plus > 0 and _DIGIT.search(s, 0, plus) is not None)):
        return "malformed"  # a "+" after a digit: not a phone number
    return digits, plus


def _phone_e164(s: str, region: str | None) -> str:
    """``+E.164`` for a phone as written under the ``valid`` policy, or "" when it is not a valid number."""
    found = _digits(s)
    if isinstance(found, str):
        return ""
    digits, plus = found
    return _e164(digits, plus >= 0, region) or ""


def _plus_digits(found: tuple[str, int] | str) -> str:
    if isinstance(found, str):
        return ""
    digits = found[0]
    return "" if len(digits) > _E164_DIGITS or digits.startswith("0") else "+" + digits


def phone_e164(s: str, region: str | None, policy: str) -> str:
    """``+E.164`` for a phone as written (trimmed text), or "" when ``policy`` drops it."""
    if policy == "valid":
        return _phone_e164(s, region)
    found = _digits(s)
    if policy == "e164":
        return _plus_digits(found)
    if isinstance(found, str):
        return ""
    digits, plus = found
    return _e164_possible(digits, plus >= 0, region) or ""


def phone_reason(s: str, region: str | None, policy: str) -> str:
    """Why ``phone_e164(s, region, policy)`` gave "" (one of ``PHONE_REASONS``)."""
    found = _digits(s)
    if isinstance(found, str):
        return found
    digits, plus = found
    if policy == "e164":
        return "too_long" if len(digits) > _E164_DIGITS else "no_country_code"
    readings = _readings(digits, plus >= 0, region)
    if not readings:
        return "no_country_code"
    reasons = [_reading_reason(text, parse_region) for text, parse_region in readings]
    if "not_valid" in reasons:
        return "not_valid"
    if plus < 0 and region is None:
        return "no_country_code"  # read as international for want of a region, and that failed
    return reasons[0]


def _reading_reason(text: str, region: str | None) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        return _PARSE_REASON.get(exc.error_type, "malformed")
    return _REASON_OF.get(phonenumbers.is_possible_number_with_reason(number), "invalid_length")
