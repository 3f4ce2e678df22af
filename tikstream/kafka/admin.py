"""Topic administration: tikstream creates the topics it owns when they are missing."""

from __future__ import annotations

import logging
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
    return created
