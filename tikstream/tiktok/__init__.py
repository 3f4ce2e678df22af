"""The TikTok Business API client: the only package that imports httpx .

Public API: ``TikTokClient``, its policies (``RetryPolicy``, ``RateLimiter``), its results (``models``)
and its exception tree (``errors``, drawn in that module's docstring).
"""

from __future__ import annotations

from tikstream.tiktok.client import ENDPOINTS, TikTokClient
from tikstream.tiktok.errors import (
    AudienceBusyError,
    AudienceTooSmallError,
    ErrorClass,
    PermanentError,
    ReauthorizeError,
    RetryableError,
    ThrottledError,
    TikTokError,
    TransportError,
    classify,
)
from tikstream.tiktok.models import (
    Advertiser,
    AudienceDetails,
    AudienceHistory,
    AudienceStatus,
    Envelope,
    PageInfo,
    TokenGrant,
)
from tikstream.tiktok.ratelimit import RateLimiter
from tikstream.tiktok.retry import RetryPolicy
from tikstream.tiktok.transport import token_fingerprint

__all__ = [
    "ENDPOINTS",
    "Advertiser",
    "AudienceBusyError",
    "AudienceDetails",
    "AudienceHistory",
    "AudienceStatus",
    "AudienceTooSmallError",
    "Envelope",
    "ErrorClass",
    "PageInfo",
    "PermanentError",
    "RateLimiter",
    "ReauthorizeError",
    "RetryPolicy",
    "RetryableError",
    "ThrottledError",
    "TikTokClient",
    "TikTokError",
    "TokenGrant",
    "TransportError",
    "classify",
    "token_fingerprint",
]
