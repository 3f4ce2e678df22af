"""OAuth auth codes (docs/tiktok-api.md §4.1): issued by ``/portal/auth``, valid one hour, single use."""

from __future__ import annotations

import secrets
from typing import Final

from tikstream.emulator.clock import Clock
from tikstream.emulator.envelope import AUTH_CODE_EXPIRED, AUTH_CODE_INVALID, ApiError

AUTH_CODE_TTL_SECONDS: Final = 3600.0


class AuthCodes:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._issued: dict[str, tuple[str, float]] = {}

    def issue(self, app_id: str) -> str:
        code = secrets.token_hex(16)
        self._issued[code] = (app_id, self._clock.now())
        return code

    def redeem(self, code: str, app_id: str) -> None:
        """Use ``code`` up: 40110 when unknown, already used or for another app; 40115 when expired."""
        issued = self._issued.pop(code, None)
        if issued is None or issued[0] != app_id:
            raise ApiError(AUTH_CODE_INVALID, "auth_code is invalid or has already been used.")
        if self._clock.now() - issued[1] > AUTH_CODE_TTL_SECONDS:
            raise ApiError(AUTH_CODE_EXPIRED, "auth_code has expired.")
