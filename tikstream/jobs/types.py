"""Constrained string types shared by the job models and the authorization file.

Each is a plain ``str`` at run time; the constraint (a regex from ``tikstream.jobs.fields``) shows in the JSON
Schema, and ``PATTERNS`` words each regex for humans when a value does not match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final

import phonenumbers
from pydantic import AfterValidator, BeforeValidator, Field

from tikstream.jobs.fields import (
    CUSTOM_EVENT_PATTERN,
    DIGITS_PATTERN,
    ID_PATTERN,
    PATH_MAX_LENGTH,
    PATTERN_DESCRIPTIONS,
)
from tikstream.records import PATH_PATTERN, SLUG_PATTERN

REGION_PATTERN: Final = r"^[A-Z]{2}$"

PATTERNS: Final[Mapping[str, str]] = {
    **PATTERN_DESCRIPTIONS,
    REGION_PATTERN: "an uppercase ISO 3166 alpha-2 country code such as 'US'",
}


def _not_a_number(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("must be a string of digits: quote it (YAML reads an unquoted id as a number)")
    return value


def _known_region(value: str) -> str:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not an ISO 3166 alpha-2 country code known to phonenumbers")
    return value


JobId = Annotated[str, Field(pattern=ID_PATTERN, description="Job id; also the config topic key.")]
AuthName = Annotated[str, Field(pattern=ID_PATTERN, description="Name of an authorization (docs/architecture.md §5).")]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN, description="Audience slug, as in trigger records.")]
RecordPath = Annotated[
    str,
    Field(pattern=PATH_PATTERN, max_length=PATH_MAX_LENGTH, description="Dotted path from the record root."),
]
Digits = Annotated[str, Field(pattern=DIGITS_PATTERN), BeforeValidator(_not_a_number)]
PhoneRegion = Annotated[
    str,
    Field(pattern=REGION_PATTERN, description="ISO 3166 alpha-2 region for phones without a country code."),
    AfterValidator(_known_region),
]
EventName = Annotated[str, Field(pattern=CUSTOM_EVENT_PATTERN)]
