"""A wall clock that tests can move forward (``POST /_emulator/clock``) instead of sleeping."""

from __future__ import annotations

import time


class Clock:
    """Unix time in seconds plus an offset that only grows."""

    __slots__ = ("_offset",)

    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward; a negative value is refused (time never goes back)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds

    @property
    def offset(self) -> float:
        return self._offset
