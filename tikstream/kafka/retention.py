"""Retention: the settings that decide how long a topic keeps records, and deleting records tikstream no longer
needs. ``TopicAdmin.ensure_config`` sets again the settings a guarantee depends on (a topic created by an older
version, or by hand, may have others); ``TopicAdmin.delete_before`` moves a partition's log start offset past
records that are done (Kafka's DeleteRecords), for topics kept without expiry."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # public names, not re-exported for mypy
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from tikstream.errors import ConfigError

__all__ = ["TopicAdmin"]

log = logging.getLogger(__name__)


class TopicAdmin:
    """Repeated administration calls on one admin client."""

    def __init__(self, kafka_config: Mapping[str, str], timeout: float = 30.0) -> None:
        self._admin = AdminClient(dict(kafka_config))
        self._timeout = timeout

    def ensure_config(self, topic: str, wanted: Mapping[str, str]) -> dict[str, str]:
        """Set each entry of ``wanted`` whose value on ``topic`` differs (an incremental change: other settings
        stay); returns ``name -> previous value`` of those changed. Raises ``ConfigError`` naming the topic and
        the settings when Kafka refuses (for example without the ``AlterConfigs`` permission)."""
        resource = ConfigResource(ResourceType.TOPIC, topic)
        try:
            current = self._admin.describe_configs([resource])[resource].result(self._timeout)
            changes = {k: (current[k].value if k in current else None) for k, v in wanted.items()
                       if k not in current or current[k].value != v}
            if not changes:
                return {}
            entries = [ConfigEntry(k, wanted[k], incremental_operation=AlterConfigOpType.SET) for k in changes]
            alter = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
            self._admin.incremental_alter_configs([alter])[alter].result(self._timeout)
        except KafkaException as exc:
            settings = ", ".join(f"{k}={v}" for k, v in wanted.items())
            raise ConfigError(f"topic {topic}: cannot set {settings}: {exc}") from exc
        log.warning("topic settings corrected", extra={"topic": topic, "previous": changes,
                                                       "now": {k: wanted[k] for k in changes}})
        return {k: v or "" for k, v in changes.items()}

    def delete_before(self, topic: str, offsets: Mapping[int, int]) -> dict[int, int]:
        """Delete the records of each partition below its offset (Kafka's DeleteRecords: the partition's log
        start offset moves there). Returns ``partition -> new log start offset`` for those done; a partition
        Kafka refused is logged and left out (the caller tries again later)."""
        if not offsets:
            return {}
        try:
            futures = self._admin.delete_records([TopicPartition(topic, p, o) for p, o in offsets.items()],
                                                 request_timeout=self._timeout)
        except KafkaException as exc:
            log.warning("records not deleted", extra={"topic": topic, "error": str(exc)})
            return {}
        done: dict[int, int] = {}
        for tp, fut in futures.items():
            try:
                done[tp.partition] = int(fut.result(self._timeout).low_watermark)
            except KafkaException as exc:
                log.warning("records not deleted", extra={"topic": topic, "partition": tp.partition,
                                                          "error": str(exc)})
        return done
