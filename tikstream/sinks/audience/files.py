"""Customer files as TikTok wants them (docs/tiktok-api.md §2.1, §2.3): what one user contributes, and the files.

One ``calculate_type`` in the job: the audience and its files use that type, one hash per line, no header (the
AWS sample's shape; §2.3 says the API does not need one). Several types: ``MULTIPLE_TYPES``, a header row of
column tokens (``LEAST_CERTAIN_HEADER_TOKENS``), then one comma-separated row per user with empty cells where
the user has no value. Files end in ``.txt`` (single type) or ``.csv`` (several) and are split so that none
passes ``MAX_FILE_BYTES`` (50 MB over the API, Treasure Data's figure, §2.1). The MD5 ``file_signature`` is the
client's business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tikstream.mapping.compile import IdentifierCounts
from tikstream.mapping.normalise import Outcome, audience_normaliser
from tikstream.records import compile_path

__all__ = [
    "LEAST_CERTAIN_HEADER_TOKENS",
    "MAX_FILE_BYTES",
    "MULTIPLE_TYPES",
    "Column",
    "FileLayout",
    "write_files",
]

MULTIPLE_TYPES: Final = "MULTIPLE_TYPES"
MAX_FILE_BYTES: Final = 50 * 1000 * 1000
"""Below TikTok's 50 MB per file over the API (§2.1: TD reports 50 MB; we stay under 50 MiB and 50 MB)."""

# ---------------------------------------------------------------------------------------------------------
# THE LEAST CERTAIN FACT (docs/tiktok-api.md §2.3 and open question §7.1): the header tokens of a MULTIPLE_TYPES
# file. The help centre (M) lists Email / Email_SHA256, Phone / Phone_SHA256, MAID / MAID_MD5 / MAID_SHA256,
# with IDFA and GAID mixed in one MAID column. We write the hashed forms exactly as the help centre spells
# them; the case TikTok expects is unknown (the emulator matches case-insensitively). Change them here only.
# ---------------------------------------------------------------------------------------------------------
LEAST_CERTAIN_HEADER_TOKENS: Final[Mapping[str, str]] = {
    "EMAIL_SHA256": "Email_SHA256",
    "PHONE_SHA256": "Phone_SHA256",
    "IDFA_SHA256": "MAID_SHA256",
    "GAID_SHA256": "MAID_SHA256",
    "IDFA_MD5": "MAID_MD5",
    "GAID_MD5": "MAID_MD5",
}


@dataclass(frozen=True, slots=True)
class Column:
    """One identifier path of a job: how to read it from a record, normalise it and count its outcome."""

    path: str
    get: Callable[[dict[str, object]], object]
    normalise: Callable[[object], tuple[str | None, Outcome]]
    record: Callable[[Outcome], None] | None


class FileLayout:
    """How a job's identifiers become file rows. Built once per job version.

    With ``counts``, every value looked at is counted there by its ``calculate_type`` (the TikTok field of a
    customer file) and outcome, for ``identifier_values_total``; the owner takes the counts in bulk. Raises
    ``ValueError`` for an unknown ``calculate_type`` or phone region.
    """

    def __init__(self, identifiers: Mapping[str, str], default_region: str | None = None,
                 counts: IdentifierCounts | None = None) -> None:
        types = sorted(set(identifiers.values()))
        self.multiple = len(types) > 1
        self.calculate_type = MULTIPLE_TYPES if self.multiple else types[0]
        self.suffix = ".csv" if self.multiple else ".txt"
        # a stable column order: by calculate type, then path
        ordered = sorted(identifiers.items(), key=lambda item: (item[1], item[0]))
        self._columns = tuple(
            Column(path, compile_path(path), audience_normaliser(ctype, default_region),
                    None if counts is None else counts.recorder(ctype))
            for path, ctype in ordered
        )
        self.header = ",".join(LEAST_CERTAIN_HEADER_TOKENS[ctype] for _, ctype in ordered) if self.multiple else ""

    def rows(self, doc: dict[str, object]) -> str:
        """The file text one user contributes ("" when no identifier is usable), without a trailing newline.

        Single type: each distinct hash on its own line. Several: one comma-separated row.
        """
        cells: list[str] = []
        for column in self._columns:
            value, outcome = column.normalise(column.get(doc))
            if column.record is not None:
                column.record(outcome)
            cells.append(value or "")
        if self.multiple:
            return ",".join(cells) if any(cells) else ""
        return "\n".join(dict.fromkeys(c for c in cells if c))


def write_files(rows: Iterable[str], layout: FileLayout, directory: Path, stem: str,
                max_bytes: int = MAX_FILE_BYTES) -> list[Path]:
    """Write ``rows`` (as ``FileLayout.rows`` returned them, empty ones skipped) to files of at most
    ``max_bytes`` each, every file with the header when the layout has one; returns the paths (none when there
    was no row). Files are named ``{stem}-{n}{suffix}`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    header = (layout.header + "\n").encode() if layout.header else b""
    paths: list[Path] = []
    out = None
    size = 0
    try:
        for row in rows:
            if not row:
                continue
            data = row.encode() + b"\n"
            if out is None or size + len(data) > max_bytes:
                if out is not None:
                    out.close()
                path = directory / f"{stem}-{len(paths)}{layout.suffix}"
                paths.append(path)
                out = path.open("wb", buffering=1 << 20)
                out.write(header)
                size = len(header)
            out.write(data)
            size += len(data)
    finally:
        if out is not None:
            out.close()
    return paths
