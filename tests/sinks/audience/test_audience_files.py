"""Customer files: hashes, single and multiple types, header tokens, splitting (docs/tiktok-api.md §2.3)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tikstream.sinks.audience.files import LEAST_CERTAIN_HEADER_TOKENS, FileLayout, write_files

PHONE_VECTOR = "65b7e6dcf6f4310f8d7cbfbd78289a753062fb054d6664fb9aaac5df66a422d4"
EMAIL_VECTOR = "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"
IDFA = "5f3a2b18-9c4d-4e7f-b8e2-17d3a1e69b25"


@pytest.mark.parametrize("raw", [
    pytest.param("37493828222", id="digits"),
    pytest.param("+374 93 828222", id="plus-spaces"),
    pytest.param("374-93-828222", id="dashes"),
])
def test_phone_vector_is_digits_only(raw: str) -> None:
    layout = FileLayout({"user.phone": "PHONE_SHA256"})
    assert layout.rows({"user": {"phone": raw}}) == PHONE_VECTOR
    assert layout.calculate_type == "PHONE_SHA256" and layout.suffix == ".txt" and layout.header == ""


def test_single_type_several_paths_gives_distinct_lines() -> None:
    layout = FileLayout({"user.email": "EMAIL_SHA256", "user.work_email": "EMAIL_SHA256"})
    doc = {"user": {"email": "JaneDoe@gmail.com ", "work_email": "janedoe@gmail.com"}}
    assert layout.rows(doc) == EMAIL_VECTOR
    doc2 = {"user": {"email": "janedoe@gmail.com", "work_email": "other@x.org"}}
    assert layout.rows(doc2).split("\n")[0] == EMAIL_VECTOR


def test_multiple_types_header_and_rows() -> None:
    layout = FileLayout({"user.email": "EMAIL_SHA256", "user.phone": "PHONE_SHA256", "user.idfa": "IDFA_SHA256"})
    assert layout.calculate_type == "MULTIPLE_TYPES"
    assert layout.suffix == ".csv"
    assert layout.header == "Email_SHA256,MAID_SHA256,Phone_SHA256"
    row = layout.rows({"user": {"email": "janedoe@gmail.com", "idfa": IDFA.upper()}})
    assert row == f"{EMAIL_VECTOR},{hashlib.sha256(IDFA.encode()).hexdigest()},"
    assert layout.rows({"user": {"email": "not an email"}}) == ""


def test_header_tokens_are_accepted_by_the_emulator() -> None:
    from tikstream.emulator.formats import LEAST_CERTAIN_MULTI_TYPE_HEADERS

    for token in LEAST_CERTAIN_HEADER_TOKENS.values():
        assert LEAST_CERTAIN_MULTI_TYPE_HEADERS[token.lower()] is not None


def test_files_are_split_under_the_limit_and_repeat_the_header(tmp_path: Path) -> None:
    layout = FileLayout({"user.email": "EMAIL_SHA256", "user.phone": "PHONE_SHA256"})
    rows = [f"{i:064x}," for i in range(100)]
    paths = write_files(rows, layout, tmp_path, "b", max_bytes=1000)
    assert len(paths) > 5
    got = []
    for p in paths:
        assert p.suffix == ".csv" and p.stat().st_size <= 1000
        lines = p.read_text().splitlines()
        assert lines[0] == layout.header
        got.extend(lines[1:])
    assert got == rows


def test_no_rows_no_file(tmp_path: Path) -> None:
    assert write_files(["", ""], FileLayout({"user.email": "EMAIL_SHA256"}), tmp_path, "b") == []
