"""Shapes of hashed identifiers and the ``calculate_type`` tables (docs/tiktok-api.md §2.2, §2.3, §3.4)."""

from __future__ import annotations

import re
from typing import Final

SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
MD5_HEX: Final = re.compile(r"[0-9a-f]{32}")
#: A raw IDFA is upper case, a raw GAID lower case (§3.4).
RAW_IDFA: Final = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
RAW_GAID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

MULTIPLE_TYPES: Final = "MULTIPLE_TYPES"

#: calculate_type -> TikTok's internal value (§2.2). Keys sharing a value are the same type.
_INTERNAL_VALUE: Final[dict[str, int]] = {
    "EMAIL_SHA256": 8,
    "PHONE_SHA256": 9,
    "IDFA_SHA256": 15,
    "GAID_SHA256": 16,
    "IDFA_MD5": 12,
    "GAID_MD5": 13,
    "FIRST_SHA256": 6,
    "MAID_SHA256": 6,
    "FIRST_MD5": 7,
    "MAID_MD5": 7,
    MULTIPLE_TYPES: 100,
}

#: Values accepted by ``file/upload/``. §2.2: the upload enum has the ``MAID_*`` keys; the emulator also takes
#: their ``FIRST_*`` twins there (same internal value).
UPLOAD_TYPES: Final = frozenset(_INTERNAL_VALUE)
#: Values accepted by ``custom_audience/create/``: §2.2 says that enum lists ``FIRST_*``, not ``MAID_*``.
CREATE_TYPES: Final = frozenset(k for k in _INTERNAL_VALUE if not k.startswith("MAID_"))


def same_type(a: str, b: str) -> bool:
    """Whether two calculate_type keys name the same type (``MAID_SHA256`` is ``FIRST_SHA256``)."""
    return _INTERNAL_VALUE.get(a, -1) == _INTERNAL_VALUE.get(b, -2)


def pattern_for(calculate_type: str) -> re.Pattern[str]:
    """The shape of one value of a single-type file: lower-case MD5 or SHA-256 hex."""
    return MD5_HEX if calculate_type.endswith("_MD5") else SHA256_HEX


# ---------------------------------------------------------------------------------------------------------
# THE LEAST CERTAIN FACT (docs/tiktok-api.md §2.3 and open question §7.1): which header tokens the API accepts in a
# MULTIPLE_TYPES file, and in which case. The help centre lists Email / Email_SHA256, Phone / Phone_SHA256 and
# MAID / MAID_MD5 / MAID_SHA256 (M). Tokens are matched case-insensitively (EMAIL_SHA256 = Email_SHA256).
# The IDFA_* / GAID_* tokens reuse the calculate_type names (L: no source shows them in a file header).
# The raw tokens (Email, Phone, MAID) name unhashed columns: TikTok hashes those itself, but §2.3 says to send
# hashed values only, so the emulator refuses them (value None). Columns are comma-delimited and a cell may be
# empty; a token may appear at most 3 times (§2.3, M).
# ---------------------------------------------------------------------------------------------------------
LEAST_CERTAIN_MULTI_TYPE_HEADERS: Final[dict[str, re.Pattern[str] | None]] = {
    "email_sha256": SHA256_HEX,  # M: help centre
    "phone_sha256": SHA256_HEX,  # M: help centre
    "maid_sha256": SHA256_HEX,  # M: help centre
    "maid_md5": MD5_HEX,  # M: help centre
    "idfa_sha256": SHA256_HEX,  # L: calculate_type name used as a header
    "gaid_sha256": SHA256_HEX,  # L
    "idfa_md5": MD5_HEX,  # L
    "gaid_md5": MD5_HEX,  # L
    "email": None,  # M as a header; refused: raw values
    "phone": None,  # M as a header; refused: raw values
    "maid": None,  # M as a header; refused: raw values
}
MAX_HEADER_REPEATS: Final = 3

#: ``/segment/mapping/`` ``id_schema`` entries and the shape of their values (§2.9): upper case here, lower case
#: accepted in requests. The segment API says AAID where the customer-file API says GAID.
SEGMENT_ID_TYPES: Final[dict[str, re.Pattern[str]]] = {
    "EMAIL_SHA256": SHA256_HEX,
    "PHONE_SHA256": SHA256_HEX,
    "IDFA_SHA256": SHA256_HEX,
    "IDFA_MD5": MD5_HEX,
    "AAID_SHA256": SHA256_HEX,
    "AAID_MD5": MD5_HEX,
}
