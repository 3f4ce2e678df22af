"""Digests, hash detection and the outcome vocabulary for identifiers sent to TikTok (docs/tiktok-api.md §2.3, §3.4).

TikTok wants lowercase hex digests. A value that already is a digest of the right kind (64 hex characters for
SHA-256, 32 for MD5, any case) is passed through lower-cased and never hashed again (a peer that hashed a hash
again silently lost every match).

All functions are pure and cheap; the regular expressions are compiled once at import.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Callable
from typing import Final

__all__ = [
    "INVALID", "MISSING", "Normaliser", "Outcome", "Result", "is_md5_hex", "is_sha256_hex", "md5_hex",
    "sha256_hex",
]


class Outcome(enum.Enum):
    """What became of one identifier value; ``.value`` is the metric label (``identifier_values_total``)."""

    HASHED = "hashed"  # normalised and hashed here
    PREHASHED = "prehashed"  # already a digest of the right kind: passed through lower-cased
    PLAIN = "plain"  # a field TikTok takes unhashed (ip, city, att_status, ...), normalised
    INVALID = "invalid"  # present but unusable: left out, counted
    MISSING = "missing"  # None, empty or whitespace-only


Result = tuple[str | None, Outcome]
"""``(value, outcome)``; the value is None exactly when the outcome is INVALID or MISSING."""
Normaliser = Callable[[object], Result]

MISSING: Final[Result] = (None, Outcome.MISSING)
INVALID: Final[Result] = (None, Outcome.INVALID)

_HEX64: Final = re.compile(r"[0-9A-Fa-f]{64}")
_HEX32: Final = re.compile(r"[0-9A-Fa-f]{32}")
_sha256 = hashlib.sha256
_md5 = hashlib.md5


def sha256_hex(s: str) -> str:
    """SHA-256 of the UTF-8 bytes of ``s``, as 64 lowercase hex characters.

    Raises ``UnicodeEncodeError`` when ``s`` holds a lone surrogate (not text, so no digest of it can match).
    """
    return _sha256(s.encode()).hexdigest()


def md5_hex(s: str) -> str:
    """MD5 of the UTF-8 bytes of ``s``, as 32 lowercase hex characters (TikTok's ``*_MD5`` types).

    Raises ``UnicodeEncodeError`` when ``s`` holds a lone surrogate.
    """
    return _md5(s.encode(), usedforsecurity=False).hexdigest()


def is_sha256_hex(s: str) -> bool:
    """True when ``s`` is exactly 64 hex characters, in any case (no surrounding whitespace)."""
    return len(s) == 64 and _HEX64.fullmatch(s) is not None


def is_md5_hex(s: str) -> bool:
    """True when ``s`` is exactly 32 hex characters, in any case (no surrounding whitespace)."""
    return len(s) == 32 and _HEX32.fullmatch(s) is not None
