"""Stored audience file contents on the real broker: ``AudienceKafka.read_files`` reassembles many files (over
several partitions, some in several chunks) in one pass, and says which one lost a chunk."""

from __future__ import annotations

import uuid

import pytest

from tikstream.sinks.audience.state import CHUNK_BYTES, AudienceKafka, KafkaStoreError


def test_many_files_are_read_back_in_one_pass_and_a_lost_one_is_named(kafka_config: dict[str, str]) -> None:
    kafka = AudienceKafka(kafka_config, f"files-{uuid.uuid4().hex[:8]}")
    try:
        contents = {f"f{i}-{uuid.uuid4().hex[:6]}": (f"{i}\n".encode() * (i + 1)) for i in range(12)}
        big = f"big-{uuid.uuid4().hex[:6]}"
        contents[big] = b"x" * (CHUNK_BYTES * 2 + 10)  # three chunks
        refs = {fid: kafka.store_file(fid, data) for fid, data in contents.items()}
        assert len({r.partition for r in refs.values()}) > 1 and refs[big].count == 3
        assert kafka.read_files(list(refs.values())) == contents
        assert kafka.read_file(refs[big]) == contents[big]

        gone = next(iter(refs))
        kafka.forget_files([refs[gone]])  # a tombstone does not bring content back; compaction removes it
        assert kafka.read_files([refs[gone]])[gone] == contents[gone], "the content is read before its tombstone"
        missing = type(refs[gone])(f"never-{gone}", refs[gone].partition, refs[gone].offset, 1)
        with pytest.raises(KafkaStoreError, match=f"file never-{gone}: 1 chunks missing"):
            kafka.read_files([refs[big], missing])
    finally:
        kafka.close()
