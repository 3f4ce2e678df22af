"""Audience export batch cost: peak RSS while one batch holds 500,000 users, and the time to flush it.

Run: ``python bench/bench_audience.py [--users N] [--out bench/results/latest.json]`` with Kafka up
(``make kafka-up``). Starts the emulator, feeds N enter triggers into one ``AudienceExportSink`` (email +
phone, so a MULTIPLE_TYPES file), then flushes: files written, uploaded to the emulator, their content and the
pending operation stored in Kafka. Keys: ``audience_batch_rss_mb`` (peak RSS of this process, MB; goal ≤ 300),
``audience_flush_seconds``, ``audience_submit_per_second``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bootstrap, merge_results

from tikstream.emulator.process import running_emulator
from tikstream.jobs.models import AudienceExportJob
from tikstream.records import Trigger
from tikstream.sinks.audience.files import FileLayout
from tikstream.sinks.audience.ops import Op
from tikstream.sinks.audience.sink import AudienceExportSink, Shipper
from tikstream.sinks.audience.state import AudienceKafka
from tikstream.tiktok.client import TikTokClient


class Store:
    def __init__(self, client: TikTokClient, kafka: AudienceKafka, advertiser: str) -> None:
        self.client, self.kafka, self.advertiser = client, kafka, advertiser

    def upload(self, calculate_type: str, path: Path) -> str:
        return self.client.upload_audience_file("tok", self.advertiser, calculate_type, path, path.name)

    def keep(self, file_id: str, path: Path) -> Any:
        return self.kafka.store_file(file_id, path.read_bytes())

    def put_op(self, op: Op) -> None:
        self.kafka.put_op(op.job_id, op.to_bytes())


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=500_000)
    parser.add_argument("--out")
    args = parser.parse_args()
    job = AudienceExportJob(
        id="bench",
        type="audience_export",
        auth="a",
        audience="bench_aud",
        advertiser_id="7000000000000000000",
        identifiers={"user.email": "EMAIL_SHA256", "user.phone": "PHONE_SHA256"},
        flush_interval_seconds=86_400,
        flush_max_users=args.users + 1,
    )
    layout = FileLayout(job.identifiers, None)
    with (
        running_emulator("--min-audience-size", "0") as base,
        TikTokClient(base, timeout=300) as client,
        tempfile.TemporaryDirectory() as tmp,
    ):
        kafka = AudienceKafka({"bootstrap.servers": bootstrap()}, f"bench-{uuid.uuid4().hex[:8]}")
        shipper = Shipper(job, layout, Store(client, kafka, job.advertiser_id))
        sink = AudienceExportSink(job, Path(tmp), shipper, layout=layout)
        tp = ("bench", 0)
        start = time.perf_counter()
        for i in range(args.users):
            doc = {
                "user_id": f"user-{i}",
                "user": {"email": f"User{i}@Example.com", "phone": f"+1 213 373 {i % 10000:04d}"},
            }
            sink.submit(Trigger("bench_aud", "enter", f"user-{i}", 0.0, doc), tp, i)
        submit_s = time.perf_counter() - start
        rss_batch = peak_rss_mb()
        start = time.perf_counter()
        assert sink.flush(600), "flush did not finish"
        flush_s = time.perf_counter() - start
        sink.close()
        kafka.close()
    merge_results(
        args.out,
        {
            "audience_batch_rss_mb": round(max(rss_batch, peak_rss_mb()), 1),
            "audience_batch_rss_mb_before_flush": round(rss_batch, 1),
            "audience_flush_seconds": round(flush_s, 2),
            "audience_submit_per_second": round(args.users / submit_s),
            "audience_batch_users": args.users,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
