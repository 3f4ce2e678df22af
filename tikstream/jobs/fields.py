"""The vocabulary of job configs: identifier patterns and TikTok's field-name tables.

Every table here is a fact about TikTok (docs/tiktok-api.md section in brackets) or a rule of ours; the models in
``tikstream.jobs.models`` only refer to them, so a TikTok change is a one-line change here.

Record paths (docs/architecture.md §3) are dotted paths from the trigger's root. The grammar is::

    path     := "user" ("." segment)+ | "user_id" | "audience" | "event" | "ts"
    segment  := [A-Za-z0-9_$-]+          (a digits-only segment also indexes a JSON array)

``user`` alone is not a path: the profile object is never an identifier or a property value by itself.
"""

from __future__ import annotations

import difflib
from typing import Final, Literal

from tikstream.records import PATH_PATTERN

# --- identifiers of our own -------------------------------------------------------------------------------

ID_PATTERN: Final = r"^[a-z0-9][a-z0-9_-]{0,63}$"
"""Job ids and authorization names (docs/architecture.md §4): they are Kafka keys, metric labels and file names."""

PATH_MAX_LENGTH: Final = 256
"""Record paths follow ``tikstream.records.PATH_PATTERN``; audience slugs ``tikstream.records.SLUG_PATTERN``
(at most 64 characters, so the TikTok audience name ``{prefix} {audience} {UTC time}`` fits in 128)."""

DIGITS_PATTERN: Final = r"^[0-9]{1,32}$"
"""TikTok numeric ids (advertiser, App ID, offline event set): strings, since they can exceed 2**53."""

PIXEL_CODE_PATTERN: Final = r"^[A-Z0-9]{4,64}$"
STORE_APP_ID_PATTERN: Final = r"^(?:[0-9]{1,32}|[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)+)$"
"""The ``app.app_id`` of app events: an App Store numeric id or an Android package name (docs/tiktok-api.md §3.2)."""

CUSTOM_EVENT_PATTERN: Final = r"^[A-Za-z][A-Za-z0-9_-]{0,99}$"
TEST_EVENT_CODE_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
PREFIX_PATTERN: Final = r"^[^\x00-\x1f\x7f]{1,40}$"
LEAD_SOURCE_PATTERN: Final = r"^[^\x00-\x1f\x7f]{1,64}$"

PATTERN_DESCRIPTIONS: Final[dict[str, str]] = {
    ID_PATTERN: "1 to 64 lowercase letters, digits, '_' and '-', starting with a letter or digit",
    PATH_PATTERN: (
        "a record path: 'user.<field>[.<field>...]', 'user_id', 'audience', 'event' or 'ts', "
        "each segment made of letters, digits, '_', '$' and '-'"
    ),
    DIGITS_PATTERN: "a string of 1 to 32 digits",
    PIXEL_CODE_PATTERN: "a pixel code: 4 to 64 uppercase letters and digits",
    STORE_APP_ID_PATTERN: "an App Store numeric id or an Android package name such as 'com.example.app'",
    CUSTOM_EVENT_PATTERN: "a letter followed by up to 99 letters, digits, '_' or '-'",
    TEST_EVENT_CODE_PATTERN: "1 to 64 letters, digits, '_' or '-'",
    PREFIX_PATTERN: "1 to 40 printable characters",
    LEAD_SOURCE_PATTERN: "1 to 64 printable characters (the CRM's name, e.g. 'HubSpot')",
}
"""Human wording for each pattern, used when a value does not match (the schema keeps the regex)."""

# --- audience export (docs/tiktok-api.md §2.2) --------------------------------------------------------------------

CalculateType = Literal["EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256", "IDFA_MD5", "GAID_SHA256", "GAID_MD5"]
MAX_PATHS_PER_CALCULATE_TYPE: Final = 3
"""A customer file may hold each header at most 3 times (docs/tiktok-api.md §2.3, HC-cf)."""

# --- events (docs/tiktok-api.md §3.3 to §3.5) ----------------------------------------------------------------------

Source = Literal["web", "app", "offline", "crm"]
TriggerEvent = Literal["enter", "exit"]
PhonePolicy = Literal["valid", "possible", "e164"]
"""Which phones are sent: libphonenumber-valid, libphonenumber-possible (the default), or '+' and the digits."""
DeviceIdPolicy = Literal["uuid", "any"]
"""Which advertising ids (idfa, gaid) are sent: dashed UUIDs only (the default), or any value."""

WebUserField = Literal[
    "email", "phone", "external_id", "ip", "user_agent", "locale",
    "first_name", "last_name", "zip_code", "city", "state", "country",
    "ttclid", "ttp",
]  # fmt: skip
AppUserField = Literal[
    "email", "phone", "external_id", "ip", "user_agent", "locale",
    "first_name", "last_name", "zip_code", "city", "state", "country",
    "idfa", "gaid", "idfv", "att_status",
]  # fmt: skip
OfflineUserField = Literal[
    "email", "phone", "external_id", "ip", "user_agent", "locale",
    "first_name", "last_name", "zip_code", "city", "state", "country",
]  # fmt: skip
"""TikTok ``user`` fields per source: the common ones everywhere, browser ids (ttclid, ttp) on web only and
device ids (idfa, gaid, idfv, att_status) on app only (docs/tiktok-api.md §3.4)."""

PropertyField = Literal[
    "value",
    "currency",
    "content_type",
    "contents",
    "content_ids",
    "content_name",
    "content_category",
    "num_items",
    "order_id",
    "shop_id",
    "query",
    "search_string",
    "description",
    "predicted_ltv",
    "delivery_category",
]
"""TikTok ``properties`` fields (docs/tiktok-api.md §3.5)."""

WEB_STANDARD_EVENTS: Final = frozenset({
    "AddPaymentInfo", "AddToCart", "AddToWishlist", "ApplicationApproval", "CompleteRegistration", "Contact",
    "CustomizeProduct", "Download", "FindLocation", "InitiateCheckout", "Lead", "Purchase", "Schedule",
    "Search", "StartTrial", "SubmitApplication", "Subscribe", "ViewContent",
})  # fmt: skip
APP_STANDARD_EVENTS: Final = frozenset({
    "AchieveLevel", "AddPaymentInfo", "AddToCart", "AddToWishlist", "Checkout", "CompleteTutorial",
    "CreateGroup", "CreateRole", "GenerateLead", "InAppADClick", "InAppADImpr", "InstallApp", "JoinGroup",
    "LaunchAPP", "LoanApplication", "LoanApproval", "LoanDisbursal", "Login", "Purchase", "Rate",
    "Registration", "Search", "SpendCredits", "StartTrial", "Subscribe", "UnlockAchievement", "ViewContent",
})  # fmt: skip
STANDARD_EVENTS: Final[dict[str, frozenset[str]]] = {
    "web": WEB_STANDARD_EVENTS,
    "app": APP_STANDARD_EVENTS,
    "offline": WEB_STANDARD_EVENTS,
    "crm": WEB_STANDARD_EVENTS,
}
"""Standard event names per source, case-sensitive (docs/tiktok-api.md §3.3). Offline accepts standard events only;
crm takes custom names too (§3.2)."""

LEGACY_EVENTS: Final[dict[str, str | None]] = {
    "CompletePayment": "Purchase",
    "SubmitForm": "Lead",
    "PlaceAnOrder": None,
    "ClickButton": None,
    "PageView": None,
}
"""Names from older TikTok lists: custom events today; the value is the current standard name, if any."""


def check_event_name(source: str, name: str) -> str | None:
    """Return why ``name`` is not a usable event name for ``source``, or None when it is.

    Standard names pass. A name that differs from a standard one only by case is refused (names are
    case-sensitive, so it is almost surely a typo). Offline sources take standard names only; web and app
    also take custom names matching ``CUSTOM_EVENT_PATTERN`` (checked by the model).
    """
    standard = STANDARD_EVENTS[source]
    if name in standard:
        return None
    folded = {s.lower(): s for s in standard}
    if name.lower() in folded:
        return f"{name!r}: event names are case-sensitive; did you mean {folded[name.lower()]!r}?"
    if source == "offline":
        legacy = LEGACY_EVENTS.get(name)
        close = difflib.get_close_matches(name.lower(), list(folded), n=1)
        hint = (f"; {name!r} is a legacy name: use {legacy!r}" if legacy
                else f"; did you mean {folded[close[0]]!r}?" if close else "")
        return (f"{name!r} is not a standard event name, and offline events take standard names only{hint} ("
                + ", ".join(sorted(standard)) + ")")
    return None
