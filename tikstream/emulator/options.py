"""The emulator's options: fixed at start (``EmulatorOptions``), or changeable at run time (the rest)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

DEFAULT_APP_ID = "emulator-app"
DEFAULT_APP_SECRET = "emulator-secret"
DEFAULT_ADVERTISER_IDS = ("7000000000000000000",)

_T = TypeVar("_T", "FaultRates", "AudienceRules")


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Faults on demand. Rates are fractions of requests in [0, 1]; a faulted request changes no state."""

    throttle_rate: float = 0.0  # HTTP 200 + code 40100
    error_rate: float = 0.0  # HTTP 500 and HTTP 200 + code 50000, alternately
    latency_ms: float = 0.0  # added to every API request
    timeout_rate: float = 0.0  # hang for timeout_seconds, then answer HTTP 504
    timeout_seconds: float = 30.0


@dataclass(frozen=True, slots=True)
class AudienceRules:
    """How audiences behave (docs/tiktok-api.md §2.3); changeable at run time (``POST /_emulator/settings``)."""

    audience_ready_seconds: float = 3.0  # an audience is not valid until this long after its last change
    min_audience_size: int = 1000  # an operation may not leave fewer members; 0 turns the rule off
    file_ttl_seconds: float = 0.0  # a file_path expires (40910) this long after upload; 0 = never


@dataclass(frozen=True, slots=True)
class EmulatorOptions:
    """Everything ``tikstream emulator`` can be started with."""

    host: str = "127.0.0.1"
    port: int = 18080
    tokens_file: Path | None = None
    app_id: str = DEFAULT_APP_ID
    app_secret: str = DEFAULT_APP_SECRET
    advertiser_ids: tuple[str, ...] = DEFAULT_ADVERTISER_IDS
    max_events_kept: int = 100_000
    seed: int | None = None
    faults: FaultRates = field(default_factory=FaultRates)
    rules: AudienceRules = field(default_factory=AudienceRules)


def updated(current: _T, changes: dict[str, Any]) -> _T:
    """``current`` with ``changes`` applied; unknown names or non-numeric values raise ``ValueError``."""
    names = {f.name: f.type for f in fields(current)}
    unknown = sorted(set(changes) - set(names))
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name}: must be a non-negative number")
        clean[name] = int(value) if names[name] == "int" else float(value)
    for name in ("throttle_rate", "error_rate", "timeout_rate"):
        if clean.get(name, 0.0) > 1.0:
            raise ValueError(f"{name}: must be between 0 and 1")
    return replace(current, **clean)


def as_dict(value: FaultRates | AudienceRules) -> dict[str, Any]:
    return {f.name: getattr(value, f.name) for f in fields(value)}
