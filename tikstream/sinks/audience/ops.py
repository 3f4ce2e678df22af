"""Pending audience operations: the record an instance stores in ``{group_id}.audience-ops`` after uploading a
batch's files (or, for a streaming job, after sealing a batch: ``add``/``delete`` with its rows), and the
job's audience record in ``{group_id}.audience-state``. Plain values, JSON on the wire."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from tikstream.sinks.audience.state import FileRef

__all__ = ["AudienceRecord", "Op", "UploadedFile"]


@dataclass(frozen=True, slots=True)
class UploadedFile:
    file_path: str
    name: str
    ref: FileRef | None  # where its content lives in Kafka, for a new upload after 40910

    def to_json(self) -> dict[str, Any]:
        ref = None if self.ref is None else [self.ref.file_id, self.ref.partition, self.ref.offset, self.ref.count]
        return {"file_path": self.file_path, "name": self.name, "ref": ref}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> UploadedFile:
        ref = doc.get("ref")
        return cls(str(doc["file_path"]), str(doc["name"]),
                   None if not ref else FileRef(str(ref[0]), int(ref[1]), int(ref[2]), int(ref[3])))


@dataclass(frozen=True, slots=True)
class Op:
    """APPEND or REMOVE ``files`` on the job's audience; ``users`` is how many users the files hold."""

    job_id: str
    batch_id: str
    action: str
    calculate_type: str
    advertiser_id: str
    files: tuple[UploadedFile, ...]
    users: int
    created: float
    offset: int = field(default=-1, compare=False)  # in the ops topic, set when consumed
    segment: dict[str, Any] | None = field(default=None, compare=False)
    """A streaming operation's rows when they travel inline (``tikstream.sinks.audience.segment``); else
    they are the content of its one file (``files[0].ref``)."""

    def to_bytes(self) -> bytes:
        doc = {"v": 1, "job": self.job_id, "batch": self.batch_id, "action": self.action,
               "calculate_type": self.calculate_type, "advertiser_id": self.advertiser_id,
               "files": [f.to_json() for f in self.files], "users": self.users, "created": self.created}
        if self.segment is not None:
            doc["segment"] = self.segment
        return orjson.dumps(doc)

    @classmethod
    def from_bytes(cls, value: bytes, offset: int = -1) -> Op:
        """Raises ``ValueError`` (or ``KeyError``) for a value that is not an operation."""
        doc = orjson.loads(value)
        return cls(str(doc["job"]), str(doc["batch"]), str(doc["action"]), str(doc["calculate_type"]),
                   str(doc["advertiser_id"]), tuple(UploadedFile.from_json(f) for f in doc["files"]),
                   int(doc["users"]), float(doc["created"]), offset, doc.get("segment"))

    def with_files(self, files: tuple[UploadedFile, ...]) -> Op:
        return replace(self, files=files)


@dataclass(frozen=True, slots=True)
class AudienceRecord:
    """A job's audience: the name chosen before ``create`` was called, and the id once TikTok gave one."""

    name: str
    audience_id: str | None = None
    calculate_type: str = ""

    def to_bytes(self) -> bytes:
        return orjson.dumps({"name": self.name, "audience_id": self.audience_id,
                             "calculate_type": self.calculate_type})

    @classmethod
    def from_bytes(cls, value: bytes) -> AudienceRecord:
        doc = orjson.loads(value)
        return cls(str(doc["name"]), doc.get("audience_id"), str(doc.get("calculate_type") or ""))
