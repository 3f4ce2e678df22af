"""``tikstream jobs preview``: the requests a job would make for some triggers, and what it left out and why.

Each trigger goes through the job's own code path (decode, route, map, normalise, hash, batch), with nothing sent
to TikTok and nothing committed to Kafka. One previewer per kind of job (``run.PREVIEWERS``): events jobs
(``events``: the ``/event/track/`` bodies), file audiences (``audience``: the file lines, the
``calculate_type`` and the APPEND/REMOVE operations) and streaming audiences (``streaming``: the
``/segment/mapping/`` bodies). ``report`` holds the result and its JSON form.
"""

from __future__ import annotations

from tikstream.preview.report import Dropped, Report, Request, TriggerReport
from tikstream.preview.run import PREVIEWERS, Input, Previewer, kind_of, preview_job

__all__ = ["PREVIEWERS", "Dropped", "Input", "Previewer", "Report", "Request", "TriggerReport", "kind_of",
           "preview_job"]
