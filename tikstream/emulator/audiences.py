"""Custom audiences, their members and their history (docs/tiktok-api.md §2.3-§2.9).

Two kinds share one book (and one id space, as ``/dmp/custom_audience/get/`` shows both, §2.9): customer-file
audiences and segment (streaming) audiences, whose members change by ``/segment/mapping/`` add and delete.

Members are kept as a set of hashes: the union of the files' identifiers under APPEND, REMOVE and REPLACE
(a MULTIPLE_TYPES row adds each of its hashes). An audience is *processing* (``is_valid`` false) until
``audience_ready_seconds`` after its last file operation, and refuses updates meanwhile (40002, "under
processing"). With ``min_audience_size`` > 0, an operation that would leave fewer members fails (40002).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Final

from tikstream.emulator.clock import Clock
from tikstream.emulator.envelope import INVALID_PARAMS, MSG_UNDER_PROCESSING, OBJECT_NOT_FOUND, ApiError
from tikstream.emulator.filestore import StoredFile
from tikstream.emulator.options import AudienceRules

ACTIONS: Final = ("APPEND", "REMOVE", "REPLACE")
DAY: Final = 86_400.0
FILE_KIND: Final = "customer_file"
SEGMENT_KIND: Final = "segment"
SEGMENT_NAME_MAX: Final = 70
MAX_HISTORY: Final = 1000
FIRST_AUDIENCE_ID: Final = 7_100_000_000_000_000_000  # past 2**53, as real ids are (§1.1)


@dataclass(frozen=True, slots=True)
class Operation:
    action: str
    file_paths: tuple[str, ...]
    at: float
    added: int
    removed: int
    size_after: int


@dataclass(slots=True)
class Audience:
    audience_id: str
    advertiser_id: str
    name: str
    calculate_type: str
    created_at: float
    retention_in_days: int | None
    sub_type: str = "NORMAL"
    enhancement: bool = False
    changed_at: float = 0.0
    members: set[str] = field(default_factory=set)
    history: list[Operation] = field(default_factory=list)
    kind: str = FILE_KIND


def fmt_time(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


class AudienceBook:
    """All audiences. ``rules`` may be replaced at run time; readiness is computed from the current rules."""

    def __init__(self, clock: Clock, rules: AudienceRules) -> None:
        self.rules = rules
        self._clock = clock
        self._audiences: dict[str, Audience] = {}
        self._ids = itertools.count(FIRST_AUDIENCE_ID)

    def create(
        self,
        advertiser_id: str,
        name: str,
        calculate_type: str,
        files: list[StoredFile],
        retention_in_days: int | None,
    ) -> Audience:
        members = self._checked_size(set().union(*(f.hashes for f in files)))
        now = self._clock.now()
        audience = Audience(
            str(next(self._ids)),
            advertiser_id,
            name,
            calculate_type,
            now,
            retention_in_days,
            changed_at=now,
            members=members,
        )
        audience.history.append(_operation("CREATE", files, now, len(members), 0, len(members)))
        self._audiences[audience.audience_id] = audience
        return audience

    def create_segment(self, advertiser_id: str, name: str) -> Audience:
        """A segment audience (§2.9): no members yet; a name over 70 characters is cut to 67 plus ``...``."""
        if len(name) > SEGMENT_NAME_MAX:
            name = name[: SEGMENT_NAME_MAX - 3] + "..."
        now = self._clock.now()
        audience = Audience(str(next(self._ids)), advertiser_id, name, "", now, None, changed_at=now, kind=SEGMENT_KIND)
        audience.history.append(Operation("CREATE", (), now, 0, 0, 0))
        self._audiences[audience.audience_id] = audience
        return audience

    def get(self, audience_id: str) -> Audience | None:
        return self._audiences.get(audience_id)

    def map_ids(self, audience: Audience, action: str, ids: set[str]) -> None:
        """``/segment/mapping/`` on one audience: ``add`` or ``delete`` these hashes (no size rule, no wait)."""
        before = len(audience.members)
        if action == "add":
            audience.members |= ids
        else:
            audience.members -= ids
        after = len(audience.members)
        op = Operation(action.upper(), (), self._clock.now(), max(0, after - before), max(0, before - after), after)
        audience.history.append(op)
        del audience.history[:-MAX_HISTORY]

    def find(self, advertiser_id: str, audience_id: str) -> Audience:
        audience = self._audiences.get(audience_id)
        if audience is None or audience.advertiser_id != advertiser_id:
            raise ApiError(OBJECT_NOT_FOUND, f"custom_audience_id: audience {audience_id} does not exist")
        return audience

    def ensure_updatable(self, audience: Audience) -> None:
        if not self.is_ready(audience):
            raise ApiError(INVALID_PARAMS, MSG_UNDER_PROCESSING)

    def apply_files(self, audience: Audience, action: str, files: list[StoredFile]) -> None:
        incoming: set[str] = set().union(*(f.hashes for f in files))
        before = audience.members
        if action == "APPEND":
            after = before | incoming
        elif action == "REMOVE":
            after = before - incoming
        else:
            after = incoming
        self._checked_size(after)
        now = self._clock.now()
        audience.members, audience.changed_at = after, now
        added, removed = len(after - before), len(before - after)
        audience.history.append(_operation(action, files, now, added, removed, len(after)))

    def rename(self, audience: Audience, name: str) -> None:
        audience.name = name
        size = len(audience.members)
        audience.history.append(Operation("RENAME", (), self._clock.now(), 0, 0, size))

    def delete(self, advertiser_id: str, audience_ids: list[str]) -> None:
        for audience_id in audience_ids:
            self.find(advertiser_id, audience_id)
        for audience_id in audience_ids:
            del self._audiences[audience_id]

    def of_advertiser(self, advertiser_id: str) -> list[Audience]:
        return [a for a in self._audiences.values() if a.advertiser_id == advertiser_id]

    def all(self) -> list[Audience]:
        return list(self._audiences.values())

    def is_ready(self, audience: Audience) -> bool:
        return self._clock.now() >= audience.changed_at + self.rules.audience_ready_seconds

    def expires_at(self, audience: Audience) -> float:
        if audience.retention_in_days is not None:
            return audience.created_at + audience.retention_in_days * DAY
        return audience.changed_at + 365 * DAY

    def is_valid(self, audience: Audience) -> bool:
        return self.is_ready(audience) and self._clock.now() < self.expires_at(audience)

    def _checked_size(self, members: set[str]) -> set[str]:
        minimum = self.rules.min_audience_size
        if minimum and len(members) < minimum:
            raise ApiError(
                INVALID_PARAMS,
                f"The custom audience would have {len(members)} users after this operation; "
                f"at least {minimum} are required.",
            )
        return members

    def details(self, audience: Audience) -> dict[str, Any]:
        """``audience_details`` as ``/dmp/custom_audience/get/`` shows it (§2.6)."""
        now, expires = self._clock.now(), self.expires_at(audience)
        valid = self.is_valid(audience)
        status = "ready" if valid else ("expired" if now >= expires else "processing")
        return {
            "audience_id": audience.audience_id,
            "name": audience.name,
            "type": "Partner Audience" if audience.kind == SEGMENT_KIND else "Customer File",
            "audience_sub_type": audience.sub_type,
            "calculate_type": audience.calculate_type,
            "cover_num": len(audience.members),
            "is_valid": valid,
            "is_expiring": 0 < expires - now <= 60 * DAY,
            "expired_time": fmt_time(expires),
            "create_time": fmt_time(audience.created_at),
            "msg": status,
            "error_msg": "",
            "is_creator": True,
            "shared": False,
            "owner_id": audience.advertiser_id,
            "is_auto_refresh": False,
            "audience_enhancement": audience.enhancement,
        }


def _operation(action: str, files: list[StoredFile], at: float, added: int, removed: int, size: int) -> Operation:
    return Operation(action, tuple(f.file_path for f in files), at, added, removed, size)


def history_item(op: Operation) -> dict[str, Any]:
    """One ``audience_history`` entry as TikTok shows it (§2.6)."""
    detail = f"{op.action} {len(op.file_paths)} file(s): +{op.added} -{op.removed}, {op.size_after} users"
    return {
        "action": op.action,
        "action_detail": detail,
        "editor": "open_api",
        "msg": "",
        "opt_time": fmt_time(op.at),
    }
