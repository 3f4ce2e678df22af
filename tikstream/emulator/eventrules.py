"""The rules for ``/event/track/`` items as data, shared by the fast pass and the exact checks.

Sources: TIKTOK_API.md §3.1 (sources, 1..1,000 events), §3.2 (item fields), §3.3 (standard events), §3.4
(which ``user`` fields are hashed, IDFA/GAID raw or hashed, ``att_status`` values).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from tikstream.emulator.formats import RAW_GAID, RAW_IDFA, SHA256_HEX

SOURCES: Final = ("web", "app", "offline", "crm")
MAX_EVENTS: Final = 1000
#: Unix seconds; anything from 10**10 on is taken for milliseconds (an emulator strictness, not TikTok's).
MAX_EVENT_TIME: Final = 10**10
#: §3.3: offline takes standard events only: the current list plus the legacy names still in peers' presets.
OFFLINE_EVENTS: Final = frozenset(
    (
        *("AddPaymentInfo", "AddToCart", "AddToWishlist", "ApplicationApproval", "CompleteRegistration"),
        *("Contact", "CustomizeProduct", "Download", "FindLocation", "InitiateCheckout", "Lead", "Purchase"),
        *("Schedule", "Search", "StartTrial", "SubmitApplication", "Subscribe", "ViewContent"),
        *("CompletePayment", "PlaceAnOrder", "SubmitForm", "ClickButton"),  # legacy names
    )
)
ATT_STATUSES: Final = frozenset(("AUTHORIZED", "DENIED", "NOT_DETERMINED", "RESTRICTED", "NOT_APPLICABLE"))

#: ``user`` fields that must be lower-case SHA-256 hex, a string or a list of strings.
HASHED_USER_FIELDS: Final = frozenset(
    ("email", "phone", "external_id", "first_name", "last_name", "zip_code")
)
#: ``user`` fields sent as plain strings.
STRING_USER_FIELDS: Final = frozenset(
    ("ttclid", "ttp", "ip", "user_agent", "locale", "idfv", "city", "state", "country", "lead_id")
)
NOT_HASHED: Final = "Not a valid SHA-256 hash: expected 64 lower-case hex characters"

_is_sha256 = SHA256_HEX.fullmatch


def _device_id(raw_shape: Callable[[str], Any]) -> Callable[[Any], bool]:
    """IDFA/GAID: raw (IDFA upper case, GAID lower case) or hashed (§3.4)."""

    def check(value: Any) -> bool:
        return type(value) is str and (_is_sha256(value) is not None or raw_shape(value) is not None)

    return check


#: The other ``user`` fields with a rule of their own, and the message when it fails.
_HEX = "or lower-case SHA-256 hex"
SPECIAL_USER_RULES: Final[dict[str, tuple[Callable[[Any], bool], str]]] = {
    "idfa": (_device_id(RAW_IDFA.fullmatch), f"Not a valid IDFA: raw upper-case UUID {_HEX}"),
    "gaid": (_device_id(RAW_GAID.fullmatch), f"Not a valid GAID: raw lower-case UUID {_HEX}"),
    "att_status": (ATT_STATUSES.__contains__, f"Must be one of: {', '.join(sorted(ATT_STATUSES))}"),
}
