"""Topic administration: tikstream creates the topics it owns when they are missing (retention settings and
deleting records: ``tikstream.kafka.retention``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from tikstream.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int = 1
    config: Mapping[str, str] = field(default_factory=dict)


COMPACTED = {"cleanup.policy": "compact"}


def existing_topics(kafka_config: Mapping[str, str], timeout: float = 30.0) -> set[str]:
    """The names of the topics that exist (raises ``ConfigError`` when Kafka cannot be reached)."""
    try:
        return set(AdminClient(dict(kafka_config)).list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise ConfigError(f"cannot reach Kafka at {kafka_config.get('bootstrap.servers')}: {exc}") from exc


def ensure_topics(kafka_config: Mapping[str, str], specs: Sequence[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Create the topics of ``specs`` that do not exist; returns the names created. Existing topics are left
    as they are (their partition count and config are the operator's)."""
    admin = AdminClient(dict(kafka_config))
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise ConfigError(f"cannot reach Kafka at {kafka_config.get('bootstrap.servers')}: {exc}") from exc
    missing = [s for s in specs if s.name not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(s.name, num_partitions=s.partitions, replication_factor=-1, config=dict(s.config)) for s in missing],
        operation_timeout=timeout,
    )
    created = []
    for name, fut in futures.items():
        try:
            fut.result(timeout)
            created.append(name)
            log.info("created topic", extra={"topic": name})
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if not (isinstance(err, KafkaError) and err.code() == KafkaError.TOPIC_ALREADY_EXISTS):
                raise ConfigError(f"cannot create topic {name}: {exc}") from exc
    _wait_for_leaders(admin, created, timeout)
    return created


def _wait_for_leaders(admin: AdminClient, topics: Sequence[str], timeout: float) -> None:
    """Wait (at most ``timeout``) until every partition of the just created ``topics`` has a leader: until
    then the broker answers reads and watermark requests with NOT_LEADER_FOR_PARTITION."""
    deadline = time.monotonic() + timeout
    waiting = set(topics)
    while waiting and time.monotonic() < deadline:
        try:
            found = admin.list_topics(timeout=max(0.1, deadline - time.monotonic())).topics
        except KafkaException:
            found = {}
        for name in list(waiting):
            meta = found.get(name)
            if meta is not None and meta.error is None and meta.partitions and all(
                p.leader >= 0 and p.error is None for p in meta.partitions.values()
            ):
                waiting.discard(name)
        if waiting:
            time.sleep(0.05)
    if waiting:
        log.warning("created topics still without a leader", extra={"topics": sorted(waiting)})

