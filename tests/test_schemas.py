from __future__ import annotations

import json
from pathlib import Path

import pytest

from tikstream import schemas
from tikstream.jobs import JOB_MODELS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(schemas.generate()))
def test_committed_schema_matches_the_models(name: str) -> None:
    path = ROOT / name
    assert path.is_file(), f"{name} is missing: run `{schemas.REGENERATE}` from the repository root"
    assert path.read_text(encoding="utf-8") == schemas.generate()[name], (
        f"{name} is stale (the models changed): run `{schemas.REGENERATE}` from the repository root "
        "and commit the result"
    )


def test_generated_text_is_stable_pretty_json() -> None:
    first, second = schemas.generate(), schemas.generate()
    assert first == second
    for text in first.values():
        document = json.loads(text)
        assert text == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        assert document["$schema"] == schemas.SCHEMA_DIALECT


def test_job_schema_is_a_union_of_every_job_type() -> None:
    document = json.loads(schemas.generate()["schemas/job.schema.json"])
    mapping = document["discriminator"]["mapping"]
    assert set(mapping) == set(JOB_MODELS)
    for name, ref in mapping.items():
        job = document["$defs"][ref.rsplit("/", 1)[1]]
        assert job["additionalProperties"] is False
        assert job["properties"]["type"]["const"] == name
        for field in ("identifiers", "properties"):
            if field in job["properties"]:
                assert job["properties"][field]["additionalProperties"] is False


def test_trigger_schema_requires_the_trigger_fields() -> None:
    document = json.loads(schemas.generate()["schemas/trigger.schema.json"])
    assert sorted(document["required"]) == ["audience", "event", "user_id"]
    assert document["properties"]["event"]["enum"] == ["enter", "exit"]


def test_main_writes_and_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert schemas.main(["--root", str(tmp_path), "--check"]) == 1
    assert schemas.REGENERATE in capsys.readouterr().err
    assert schemas.main(["--root", str(tmp_path)]) == 0
    assert schemas.main(["--root", str(tmp_path), "--check"]) == 0
    assert schemas.stale(tmp_path) == []
    (tmp_path / "schemas/job.schema.json").write_text("{}\n")
    assert schemas.stale(tmp_path) == ["schemas/job.schema.json"]
