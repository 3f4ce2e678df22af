"""Uploaded files by ``file_path``: who may use them, for how long, and which hashes they hold."""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass
from typing import Any

from tikstream.emulator.clock import Clock
from tikstream.emulator.envelope import FILE_EXPIRED, OBJECT_NOT_FOUND, ApiError, invalid
from tikstream.emulator.formats import same_type


@dataclass(frozen=True, slots=True)
class StoredFile:
    file_path: str
    advertiser_id: str
    calculate_type: str
    name: str
    md5: str
    size_bytes: int
    hashes: frozenset[str]
    uploaded_at: float


class FileStore:
    """Files by path. A path belongs to the advertiser that uploaded it (docs/tiktok-api.md §2.1)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._files: dict[str, StoredFile] = {}
        self._seq = itertools.count(1)

    def add(
        self, advertiser_id: str, calculate_type: str, name: str, md5: str, size: int, hashes: frozenset[str]
    ) -> StoredFile:
        path = f"emulator/{advertiser_id}/{next(self._seq):06d}-{secrets.token_hex(6)}"
        stored = StoredFile(path, advertiser_id, calculate_type, name, md5, size, hashes, self._clock.now())
        self._files[path] = stored
        return stored

    def resolve(
        self, advertiser_id: str, paths: list[str], calculate_type: str, ttl_seconds: float
    ) -> list[StoredFile]:
        """Files behind ``paths``: 40007 unknown or another advertiser's, 40910 expired, 40002 wrong type."""
        now = self._clock.now()
        found: list[StoredFile] = []
        for i, path in enumerate(paths):
            stored = self._files.get(path)
            if stored is None or stored.advertiser_id != advertiser_id:
                raise ApiError(OBJECT_NOT_FOUND, f"file_paths.{i}: file_path {path} does not exist")
            if ttl_seconds and now - stored.uploaded_at > ttl_seconds:
                raise ApiError(FILE_EXPIRED, f"file_paths.{i}: file_path {path} has expired; upload it again")
            if not same_type(stored.calculate_type, calculate_type):
                raise invalid(
                    f"file_paths.{i}",
                    f"file calculate_type {stored.calculate_type} does not match {calculate_type}",
                )
            found.append(stored)
        return found

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "file_path": f.file_path,
                "advertiser_id": f.advertiser_id,
                "calculate_type": f.calculate_type,
                "name": f.name,
                "md5": f.md5,
                "size_bytes": f.size_bytes,
                "identifiers": len(f.hashes),
                "uploaded_at": f.uploaded_at,
            }
            for f in self._files.values()
        ]
