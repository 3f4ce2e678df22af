"""The ``emulator`` extra: the libraries only the emulator needs, and what to tell a user who lacks them.

``pip install tikstream`` leaves them out; ``pip install 'tikstream[emulator]'`` (and ``make setup``, and the
Docker image) puts them in. This module imports none of them, so it can explain their absence.
"""

from __future__ import annotations

from typing import Final

MODULES: Final = frozenset({"aiohttp", "jsonschema_rs", "msgspec"})  # import names of the extra's packages
INSTALL: Final = "pip install 'tikstream[emulator]'"


def missing(error: ImportError) -> str | None:
    """The one-line message for ``error`` when it is a library of the extra that failed to import, else None."""
    module = (error.name or "").partition(".")[0]
    if module not in MODULES:
        return None
    return f"error: the emulator needs the 'emulator' extra (cannot import {module}); install it with: {INSTALL}"
