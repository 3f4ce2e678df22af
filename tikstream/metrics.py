"""Every Prometheus metric tikstream emits, in one place (docs/architecture.md §9, documented in docs/metrics.md).

A ``Metrics`` object is built once by the composition root with the registry to register in, and passed to
the parts that need it; tests build their own over a fresh ``CollectorRegistry``. Labels stay bounded: job
ids, topics, partitions, endpoints and outcome words, never user or audience-member ids.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 750, 1000, 5000, 50_000, 500_000)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The metric families; attribute names match the metric names without the ``tikstream_`` prefix."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        ns = "tikstream"
        # -- consumption and routing
        self.records_consumed_total = Counter(
            "records_consumed_total", "Trigger records read from Kafka.", ["topic"], namespace=ns, registry=r
        )
        self.records_routed_total = Counter(
            "records_routed_total", "Deliveries of a trigger to a job, by job type.", ["job_type"],
            namespace=ns, registry=r,
        )
        self.dlq_records_total = Counter(
            "dlq_records_total", "Records written to the dead-letter topic, by reason.", ["reason"],
            namespace=ns, registry=r,
        )
        self.consumer_lag = Gauge(
            "consumer_lag", "High watermark minus the consumer position.", ["topic", "partition"],
            namespace=ns, registry=r,
        )
        self.commit_lag_records = Gauge(
            "commit_lag_records", "Records consumed but not yet committed (owed by a sink).",
            ["topic", "partition"], namespace=ns, registry=r,
        )
        self.paused_partitions = Gauge(
            "paused_partitions", "Partitions paused by back-pressure.", namespace=ns, registry=r
        )
        self.commits_total = Counter(
            "commits_total", "Offset commits, by outcome.", ["outcome"], namespace=ns, registry=r
        )
        self.rebalances_total = Counter(
            "rebalances_total", "Partition assignment changes, by kind (assigned, revoked, lost).", ["kind"],
            namespace=ns, registry=r,
        )
        self.revoke_seconds = Histogram(
            "revoke_seconds", "Time the poll loop spent in a revoke (flushing the owners of revoked partitions, "
            "committing them).", namespace=ns, registry=r, buckets=_LATENCY_BUCKETS,
        )
        # -- jobs and config
        self.jobs = Gauge("jobs", "Jobs known to the registry, by type and state.", ["type", "state"],
                          namespace=ns, registry=r)
        self.config_rejected_total = Counter(
            "config_rejected_total", "Job config versions rejected as invalid.", namespace=ns, registry=r
        )
        self.thread_failures_total = Counter(
            "thread_failures_total", "Failures of a supervised background thread, by thread name.", ["thread"],
            namespace=ns, registry=r,
        )
        # -- TikTok
        self.tiktok_requests_total = Counter(
            "tiktok_requests_total", "TikTok API requests, by endpoint and outcome.", ["endpoint", "outcome"],
            namespace=ns, registry=r,
        )
        self.tiktok_request_duration_seconds = Histogram(
            "tiktok_request_duration_seconds", "TikTok API request duration (one attempt).", ["endpoint"],
            namespace=ns, registry=r, buckets=_LATENCY_BUCKETS,
        )
        self.tiktok_retries_total = Counter(
            "tiktok_retries_total", "TikTok API attempts retried, by endpoint and error class.",
            ["endpoint", "reason"], namespace=ns, registry=r,
        )
        # -- sinks
        self.events_sent_total = Counter(
            "events_sent_total", "Events accepted by TikTok's /event/track/, by job.", ["job"],
            namespace=ns, registry=r,
        )
        self.events_failed_total = Counter(
            "events_failed_total", "Events TikTok rejected as invalid (sent to the DLQ), by job.", ["job"],
            namespace=ns, registry=r,
        )
        self.batch_size = Histogram(
            "batch_size", "Items per batch handed to TikTok, by sink kind.", ["sink"],
            namespace=ns, registry=r, buckets=_BATCH_BUCKETS,
        )
        self.identifier_values_total = Counter(
            "identifier_values_total", "Identifier values seen by mapping, by job, TikTok field and outcome "
            "(hashed, prehashed, invalid, missing, plain).", ["job", "field", "outcome"],
            namespace=ns, registry=r,
        )
        self.identifier_dropped_total = Counter(
            "identifier_dropped_total", "Identifier values left out of events, by job, TikTok field and reason.",
            ["job", "field", "reason"], namespace=ns, registry=r,
        )
        self.job_paused = Gauge(
            "job_paused", "1 while a job is paused (authorization error), else 0.", ["job"],
            namespace=ns, registry=r,
        )
        # -- audiences
        self.audience_users_total = Counter(
            "audience_users_total", "Users sent to a TikTok audience, by job and action (append, remove).",
            ["job", "action"], namespace=ns, registry=r,
        )
        self.audience_pending_files = Gauge(
            "audience_pending_files", "Uploaded audience files waiting to be applied, by job.", ["job"],
            namespace=ns, registry=r,
        )
        self.audience_state = Gauge(
            "audience_state", "1 for the job's current audience state (creating, processing, ready, failing).",
            ["job", "state"], namespace=ns, registry=r,
        )
        self.audience_last_success_timestamp_seconds = Gauge(
            "audience_last_success_timestamp_seconds", "Unix time of the job's last applied audience update.",
            ["job"], namespace=ns, registry=r,
        )
        self.backfill_users_total = Counter(
            "backfill_users_total", "existing_users backfill progress, by job and stage (scanned, sent).",
            ["job", "stage"], namespace=ns, registry=r,
        )
