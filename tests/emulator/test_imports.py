"""What the emulator imports: nothing of tikstream outside ``tikstream.emulator``, since the referee shares no
code with the client it judges. Checked in every module's source and in what a process importing the server loads.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import tikstream.emulator

PACKAGE = Path(tikstream.emulator.__file__).parent
OWN = "tikstream.emulator"


def _outside(name: str) -> bool:
    """A module of tikstream that is not part of the emulator."""
    return (name == "tikstream" or name.startswith("tikstream.")) and not (name == OWN or name.startswith(OWN + "."))


def _imported_names(path: Path) -> set[str]:
    package = ".".join(("tikstream", *path.relative_to(PACKAGE.parent).parent.parts))
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the module's package
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.update(f"{base}.{alias.name}" if base == "tikstream" else base for alias in node.names)
    return names


@pytest.mark.parametrize("module", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_referee_imports_nothing_of_the_player(module: Path) -> None:
    assert not {name for name in _imported_names(module) if _outside(name)}


def test_the_check_sees_an_import_from_outside() -> None:
    assert _outside("tikstream.tiktok.client") and _outside("tikstream.sinks") and _outside("tikstream")
    assert not _outside("tikstream.emulator.handlers.dmp") and not _outside("tikstream_other")


def test_importing_the_server_loads_nothing_of_tikstream_outside_the_emulator() -> None:
    code = "import sys, tikstream.emulator.server; print(*sorted(m for m in sys.modules if m.startswith('tikstream')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded = out.stdout.split()
    assert "tikstream.emulator.handlers.events" in loaded
    assert [name for name in loaded if _outside(name) and name != "tikstream"] == []
