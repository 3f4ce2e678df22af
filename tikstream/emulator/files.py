"""Checks on an uploaded customer file (docs/tiktok-api.md §2.1, §2.3) and its parsing into a set of hashes.

Order of the checks, each with its code: ``calculate_type`` known (40909), name ends in ``.csv``/``.txt``
(40908), not empty (40906), at most 50 MB (40907, Treasure Data's figure), MD5 signature (40900), every line
a hash of the declared type (40915). A file with one bad line fails whole.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from tikstream.emulator.envelope import (
    CALCULATE_TYPE_UNSUPPORTED,
    FILE_EMPTY,
    FILE_FAILS_SPEC,
    FILE_SIGNATURE_MISMATCH,
    FILE_TOO_LARGE,
    FILE_WRONG_TYPE,
    ApiError,
)
from tikstream.emulator.formats import (
    LEAST_CERTAIN_MULTI_TYPE_HEADERS,
    MAX_HEADER_REPEATS,
    MULTIPLE_TYPES,
    UPLOAD_TYPES,
    pattern_for,
    same_type,
)

MAX_FILE_BYTES: Final = 50 * 1024 * 1024
EXTENSIONS: Final = (".csv", ".txt")


def check_file(calculate_type: str, filename: str, content: bytes, signature: str) -> frozenset[str]:
    """Validate one upload and return the hashes it holds; raises ``ApiError`` with TikTok's file codes."""
    if calculate_type not in UPLOAD_TYPES:
        raise ApiError(
            CALCULATE_TYPE_UNSUPPORTED,
            f"calculate_type: Must be one of: {', '.join(sorted(UPLOAD_TYPES))}",
        )
    if not filename.endswith(EXTENSIONS):
        raise ApiError(FILE_WRONG_TYPE, f"file: only .csv or .txt files are supported, got {filename!r}")
    if not content:
        raise ApiError(FILE_EMPTY, "file: the file is empty")
    if len(content) > MAX_FILE_BYTES:
        raise ApiError(FILE_TOO_LARGE, f"file: larger than {MAX_FILE_BYTES} bytes")
    if hashlib.md5(content).hexdigest() != signature.lower():
        raise ApiError(FILE_SIGNATURE_MISMATCH, "file_signature: does not match the MD5 of the file")
    try:
        lines = content.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise ApiError(FILE_FAILS_SPEC, "file: not UTF-8 text") from None
    if calculate_type == MULTIPLE_TYPES:
        hashes = _multi_type_hashes(lines)
    else:
        hashes = _single_type_hashes(lines, calculate_type)
    if not hashes:
        raise ApiError(FILE_EMPTY, "file: no identifiers in the file")
    return hashes


def _fail(line_no: int, problem: str, bad: int) -> ApiError:
    more = f" ({bad} bad lines in all)" if bad > 1 else ""
    return ApiError(FILE_FAILS_SPEC, f"file: line {line_no}: {problem}{more}")


def _single_type_hashes(lines: list[str], calculate_type: str) -> frozenset[str]:
    """One hash per line; blank lines are skipped and a first line naming the type is taken as a header."""
    start = 1 if lines and same_type(lines[0].strip().upper(), calculate_type) else 0
    matches = pattern_for(calculate_type).fullmatch
    kind = "MD5" if calculate_type.endswith("_MD5") else "SHA-256"
    hashes: set[str] = set()
    first_bad, bad = 0, 0
    for no, line in enumerate(lines[start:], start=start + 1):
        if not line:
            continue
        if matches(line):
            hashes.add(line)
        else:
            bad += 1
            first_bad = first_bad or no
    if bad:
        raise _fail(first_bad, f"not a lower-case {kind} hex digest (calculate_type {calculate_type})", bad)
    return frozenset(hashes)


def _header_patterns(header: str) -> list[re.Pattern[str]]:
    tokens = [cell.strip() for cell in header.split(",")]
    patterns: list[re.Pattern[str]] = []
    for token in tokens:
        key = token.lower()
        if key not in LEAST_CERTAIN_MULTI_TYPE_HEADERS:
            known = ", ".join(k.upper() for k, v in LEAST_CERTAIN_MULTI_TYPE_HEADERS.items() if v)
            raise _fail(1, f"unknown header {token!r}; expected a comma-separated row of {known}", 1)
        pattern = LEAST_CERTAIN_MULTI_TYPE_HEADERS[key]
        if pattern is None:
            raise _fail(1, f"header {token!r} names raw values; send hashed columns ({token}_SHA256)", 1)
        if sum(t.lower() == key for t in tokens) > MAX_HEADER_REPEATS:
            raise _fail(1, f"header {token!r} appears more than {MAX_HEADER_REPEATS} times", 1)
        patterns.append(pattern)
    return patterns


def _multi_type_hashes(lines: list[str]) -> frozenset[str]:
    """A header row of ID types, then comma-separated rows; empty cells are allowed, empty rows are not."""
    if not lines:
        return frozenset()
    patterns = _header_patterns(lines[0])
    hashes: set[str] = set()
    first_bad, bad, problem = 0, 0, ""
    for no, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        cells = line.split(",")
        error = _row_error(cells, patterns)
        if error:
            bad += 1
            if not first_bad:
                first_bad, problem = no, error
            continue
        hashes.update(cell for cell in cells if cell)
    if bad:
        raise _fail(first_bad, problem, bad)
    return frozenset(hashes)


def _row_error(cells: list[str], patterns: list[re.Pattern[str]]) -> str:
    if len(cells) != len(patterns):
        return f"{len(cells)} cells for {len(patterns)} header columns"
    if not any(cells):
        return "no identifier in the row"
    for column, (cell, pattern) in enumerate(zip(cells, patterns, strict=True), start=1):
        if cell and not pattern.fullmatch(cell):
            return f"column {column}: not a lower-case hex digest of the column's type"
    return ""
