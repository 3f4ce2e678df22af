"""TikTok's response envelope ``{code, message, request_id, data}`` and the codes the emulator answers with.

Application errors travel as HTTP 200 with a non-zero ``code`` (docs/tiktok-api.md §1.3). Codes and messages come
from §1.4 and §6.8; where TikTok's exact wording is unknown the message follows its field-level style
(``"data.3.event_id: Not a valid string"``).
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Final

import orjson

OK: Final = 0
NO_PERMISSION: Final = 40001
INVALID_PARAMS: Final = 40002
OBJECT_NOT_FOUND: Final = 40007
THROTTLED: Final = 40100
INVALID_APP: Final = 40101
TOKEN_MISSING: Final = 40104
TOKEN_INVALID: Final = 40105
AUTH_CODE_INVALID: Final = 40110
AUTH_CODE_EXPIRED: Final = 40115
FILE_SIGNATURE_MISMATCH: Final = 40900
FILE_MISSING: Final = 40905
FILE_EMPTY: Final = 40906
FILE_TOO_LARGE: Final = 40907
FILE_WRONG_TYPE: Final = 40908
CALCULATE_TYPE_UNSUPPORTED: Final = 40909
FILE_EXPIRED: Final = 40910
FILE_FAILS_SPEC: Final = 40915
SYSTEM_ERROR: Final = 50000

MSG_OK: Final = "OK"
MSG_TOKEN_MISSING: Final = "Access token is null, you should set it in http header with key Access-Token."
MSG_TOKEN_INVALID: Final = "Access token is incorrect or has been revoked."
MSG_THROTTLED: Final = "Too many requests. Please retry in some time."
MSG_SYSTEM_ERROR: Final = "System error, please retry later."
MSG_UNDER_PROCESSING: Final = "The audience is currently being updated or under processing, please try again later."


class ApiError(Exception):
    """An application error: answered with HTTP 200 and ``code``/``message`` in the envelope."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def invalid(field: str, problem: str) -> ApiError:
    """A 40002 in TikTok's field-level style: ``"<field>: <problem>"``."""
    return ApiError(INVALID_PARAMS, f"{field}: {problem}")


class RequestIds:
    """TikTok-looking request ids: a UTC timestamp followed by a per-process sequence number."""

    __slots__ = ("_seq",)

    def __init__(self) -> None:
        self._seq = itertools.count(1)

    def next(self) -> str:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        return f"{stamp}{next(self._seq):012X}"


def encode(code: int, message: str, request_id: str, data: Any) -> bytes:
    """The envelope as JSON bytes; ``data`` is ``{}`` on errors, as TikTok sends for 40104."""
    return orjson.dumps({"code": code, "message": message, "request_id": request_id, "data": data})
