"""Why an identifier value was dropped: the ``reason`` label of ``identifier_dropped_total`` and of previews.

A normaliser (``tikstream.mapping.normalise``) only says INVALID, on the hot path; a dropped value is rare, so
its reason is worked out afterwards, here, by the same rules. The vocabulary is bounded (:data:`REASONS`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import partial
from typing import Final

from tikstream.mapping.normalise import (
    _EMAIL,
    _MAX_EMAIL,
    _UUID,
    _ZERO_UUID,
    ATT_STATUSES,
    _alnum_lower,
    _text,
    _zip_code,
    normalise_region,
)
from tikstream.mapping.phones import PHONE_REASONS, phone_reason

__all__ = ["REASONS", "drop_explainer"]

REASONS: Final = (
    "wrong_type", "not_text", "malformed", "not_uuid", "zero_id", "not_an_ip", "unknown_value", "nothing_left",
    *PHONE_REASONS,
)  # fmt: skip
"""Every reason a value can be dropped for; ``docs/metrics.md`` lists them."""

_NUMBERS: Final = frozenset({"phone", "zip_code", "external_id"})


def _email(s: str) -> str:
    s = s.lower()
    return "too_long" if len(s) > _MAX_EMAIL else "malformed" if _EMAIL.fullmatch(s) is None else "not_text"


def _device_id(policy: str, s: str) -> str:
    s = s.lower()
    if s == _ZERO_UUID:
        return "zero_id"
    return "not_uuid" if policy == "uuid" and _UUID.fullmatch(s) is None else "not_text"


def _ip(s: str) -> str:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return "not_an_ip"
    return "not_text"


def _other(s: str) -> str:
    return "not_text"  # only a lone surrogate makes other text invalid


def _cleaned(clean: Callable[[str], str], s: str) -> str:
    return "nothing_left" if not clean(s) else "not_text"


def drop_explainer(field: str, default_region: str | None = None, *, phone_policy: str = "possible",
                   device_id_policy: str = "uuid") -> Callable[[object], str]:
    """The function that tells why a raw value of the Events API ``user`` field ``field`` was dropped (called
    only for values its normaliser found INVALID)."""
    region = normalise_region(default_region)
    by_text: dict[str, Callable[[str], str]] = {
        "email": _email, "phone": lambda s: phone_reason(s, region, phone_policy),
        "idfa": partial(_device_id, device_id_policy), "gaid": partial(_device_id, device_id_policy),
        "ip": _ip, "att_status": lambda s: "not_text" if s.upper() in ATT_STATUSES else "unknown_value",
        "first_name": partial(_cleaned, _alnum_lower), "last_name": partial(_cleaned, _alnum_lower),
        "city": partial(_cleaned, _alnum_lower), "state": partial(_cleaned, _alnum_lower),
        "country": partial(_cleaned, _alnum_lower), "zip_code": partial(_cleaned, _zip_code),
    }  # fmt: skip
    explain = by_text.get(field, _other)
    numbers = field in _NUMBERS

    def reason(raw: object) -> str:
        text = _text(raw, numbers)
        return explain(text) if isinstance(text, str) else "wrong_type"

    return reason
