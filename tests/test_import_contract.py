"""The layout rules `make lint` and this file hold the package to (issue 12): no import cycles (imports under
``TYPE_CHECKING`` count), every module under 400 lines, no folder with three modules sharing a ``prefix_``, the
import-linter lists naming every top-level module, and every ``docs/<page>.md §N`` citation resolving."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tikstream"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """Module -> tikstream modules it imports, anywhere in the file (``TYPE_CHECKING`` blocks and functions too)."""
    mods = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in mods else module for a in node.names]
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_module_is_under_400_lines() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    long = {path: n for path, n in sizes.items() if n >= MAX_LINES}
    assert long == {}


def test_no_folder_holds_three_modules_sharing_a_prefix() -> None:
    crowded = {}
    for folder in [PACKAGE, *(p for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__")]:
        prefixes: dict[str, list[str]] = defaultdict(list)
        for path in folder.glob("*.py"):
            if "_" in path.stem.strip("_"):
                prefixes[path.stem.split("_")[0]].append(path.name)
        for prefix, names in prefixes.items():
            if len(names) >= 3:
                crowded[f"{folder.relative_to(ROOT)}/{prefix}_"] = sorted(names)
    assert crowded == {}


def _contracts() -> list[dict[str, object]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _top_level() -> set[str]:
    return {f"tikstream.{p.stem if p.is_file() else p.name}" for p in PACKAGE.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}


@pytest.mark.parametrize(("name", "owner", "key"), [
    pytest.param("confluent_kafka only in tikstream.kafka", "tikstream.kafka", "source_modules", id="kafka"),
    pytest.param("httpx only in tikstream.tiktok", "tikstream.tiktok", "source_modules", id="httpx"),
    pytest.param("The emulator imports nothing of tikstream outside tikstream.emulator", "tikstream.emulator",
                 "forbidden_modules", id="emulator"),
])
def test_import_contracts_name_every_top_level_module(name: str, owner: str, key: str) -> None:
    contract = next(c for c in _contracts() if c["name"] == name)
    listed = set(contract[key])  # type: ignore[call-overload]
    assert listed == _top_level() - {owner}, f"{name}: add new modules to {key} in pyproject.toml"


def test_lint_imports_holds() -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]


CITATION = re.compile(r"docs/([a-z-]+)\.md §(\d+(?:\.\d+)?)(?:\s*(?:-|to|,|and)\s*§(\d+(?:\.\d+)?))?")
FOREIGN = re.compile(r"\b(DESIGN|TIKTOK_API|STYLE|PEERS|KAFKA_LOCAL)(\.md)?\b")


def _tracked_text_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / f for f in out.split() if f.endswith((".py", ".md", ".yml", ".yaml", ".toml", ".json", ".mk"))
            or f in ("Makefile", "Dockerfile")]


def test_every_citation_resolves_to_a_section_of_a_page_in_the_repository() -> None:
    sections: dict[str, set[str]] = {}
    for page in (ROOT / "docs").glob("*.md"):
        sections[page.stem] = set(re.findall(r"^#+ §(\d+(?:\.\d+)?)\b", page.read_text(), re.M))
    broken, foreign = [], []
    for path in _tracked_text_files():
        if not path.exists() or "bench/results" in str(path):
            continue
        text = path.read_text(errors="replace")
        rel = str(path.relative_to(ROOT))
        for m in CITATION.finditer(text):
            for number in filter(None, (m.group(2), m.group(3))):
                if number not in sections.get(m.group(1), set()):
                    broken.append(f"{rel}: docs/{m.group(1)}.md §{number}")
        if rel != "tests/test_import_contract.py":
            foreign += [f"{rel}: {m.group(0)}" for m in FOREIGN.finditer(text)]
    assert broken == []
    assert foreign == [], "cites a document that is not in the repository"
