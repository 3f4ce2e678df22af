"""Preview of a file audience (``delivery: file``): the files' lines, their ``calculate_type`` and the APPEND
and REMOVE operations, made by the audience sink's own parts.

The routed triggers go into an on-disk ``Batch`` (a user's last trigger wins, as in the sink), which the sink's
``Shipper`` writes into files and operations; its file store here keeps each file's lines instead of uploading
them and the operations instead of queuing them. Not shown: exits whose profile only the membership table
knows (a real run looks their hashes up there), and how a long run splits batches by time or size.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from tikstream.jobs.models import AudienceExportJob
from tikstream.mapping.counts import IdentifierCounts
from tikstream.mapping.normalise import Outcome, audience_normaliser
from tikstream.mapping.reasons import drop_explainer
from tikstream.preview.report import Dropped, Request, TriggerReport
from tikstream.records import Trigger, compile_path
from tikstream.sinks.audience.batch import APPEND, REMOVE, Batch
from tikstream.sinks.audience.files import FileLayout
from tikstream.sinks.audience.ops import Op
from tikstream.sinks.audience.ship import Sealed, Shipper

__all__ = ["FilePreview"]

UPLOAD_PATH = "/dmp/custom_audience/file/upload/"
UPDATE_PATH = "/dmp/custom_audience/update/"
_FIELDS = {"EMAIL_SHA256": "email", "PHONE_SHA256": "phone", "IDFA_SHA256": "idfa", "IDFA_MD5": "idfa",
           "GAID_SHA256": "gaid", "GAID_MD5": "gaid"}


class _Kept:
    """The shipper's file store: keeps what would be uploaded and queued."""

    def __init__(self, advertiser_id: str) -> None:
        self._advertiser_id = advertiser_id
        self.requests: list[Request] = []

    def upload(self, calculate_type: str, path: Path) -> str:
        lines = path.read_text(encoding="utf-8").splitlines()
        self.requests.append(Request("POST", UPLOAD_PATH, {
            "advertiser_id": self._advertiser_id, "calculate_type": calculate_type, "file_name": path.name,
            "lines": lines,
        }))  # fmt: skip
        return f"<file_path of {path.name}>"

    def keep(self, file_id: str, path: Path) -> Any:
        return None

    def put_op(self, op: Op) -> None:
        self.requests.append(Request("POST", UPDATE_PATH, {
            "advertiser_id": op.advertiser_id, "custom_audience_id": f"<the audience of job {op.job_id}>",
            "action": op.action, "file_paths": [f.file_path for f in op.files],
        }))  # fmt: skip


class FilePreview:
    def __init__(self, job: AudienceExportJob) -> None:
        self._job = job
        self._layout = FileLayout(job.identifiers, job.default_phone_region,
                                  IdentifierCounts(sorted(set(job.identifiers.values()))))
        self._dir = Path(tempfile.mkdtemp(prefix="tikstream-preview-"))
        self._batch = Batch(self._dir / "batch.sqlite", 0.0)
        self._columns = [
            (path, ctype, compile_path(path), audience_normaliser(ctype, job.default_phone_region),
             drop_explainer(_FIELDS[ctype], job.default_phone_region, phone_policy="valid"))
            for path, ctype in job.identifiers.items()
        ]
        self.notes = [f"calculate_type {self._layout.calculate_type}; the first APPEND of a job without an "
                      "audience creates it (/dmp/custom_audience/create/ with the same file_paths)"]

    def take(self, trigger: Trigger, report: TriggerReport) -> None:
        rows = self._layout.rows(trigger.doc)
        action = APPEND if trigger.event == "enter" else REMOVE
        self._batch.put(trigger.user_id, action, rows, 0)
        for path, ctype, get, normalise, explain in self._columns:
            raw = get(trigger.doc)
            _value, outcome = normalise(raw)
            if outcome is Outcome.INVALID:
                report.dropped.append(Dropped(path, f"{explain(raw)} (not a usable {ctype} value)"))
            elif outcome is Outcome.MISSING:
                report.dropped.append(Dropped(path, "empty" if type(raw) is str else "missing"))
        if not rows:
            report.notes.append("no usable identifier: " + (
                "the exit is looked up in the membership table when its batch ships" if action == REMOVE
                else "the user is not sent"))

    def requests(self) -> list[Request]:
        store = _Kept(self._job.advertiser_id)
        try:
            path = self._batch.seal()
            Shipper(self._job, self._layout, store)(Sealed("preview", path, self._dir / "files"))
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
        return store.requests
