"""The exception trees drawn in ``tikstream.errors`` and ``tikstream.tiktok.errors`` name every exception
class the package defines, each under its real base class."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import tikstream
import tikstream.errors
import tikstream.tiktok.errors


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(tikstream.__path__, "tikstream."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[name] = obj
    return found


def _tree_names(doc: str) -> set[str]:
    """Class names drawn in a tree: at a branch (``├── Name``), at a root, or listed in brackets after one."""
    names = set(re.findall(r"^ {4}(\w+)\s", doc, re.M)) | set(re.findall(r"[├└]── (\w+)", doc))
    for group in re.findall(r"[├└]── \w+\s+\(((?:_?[A-Z]\w+(?:, )?)+)\)", doc):
        names.update(group.split(", "))
    return names


def test_every_exception_class_is_in_a_tree() -> None:
    drawn = _tree_names(tikstream.errors.__doc__ or "") | _tree_names(tikstream.tiktok.errors.__doc__ or "")
    missing = sorted(set(_exception_classes()) - drawn)
    assert missing == [], "add these to the tree in tikstream/errors.py (or tikstream/tiktok/errors.py)"


def test_the_trees_name_no_class_that_does_not_exist() -> None:
    drawn = _tree_names(tikstream.errors.__doc__ or "") | _tree_names(tikstream.tiktok.errors.__doc__ or "")
    assert sorted(drawn - set(_exception_classes()) - {"ValueError", "Exception"}) == []


def test_each_class_hangs_under_its_base_in_the_tree() -> None:
    classes = _exception_classes()
    for doc in (tikstream.errors.__doc__ or "", tikstream.tiktok.errors.__doc__ or ""):
        parents: list[tuple[int, str]] = []
        for line in doc.splitlines():
            m = re.match(r"^(\s*)(?:[│ ]*[├└]── )?(\w+)", line)
            if not m or (m.group(2) not in classes and m.group(2) not in ("TikstreamError", "ValueError", "Exception")):
                continue
            depth = line.find(m.group(2))
            while parents and parents[-1][0] >= depth:
                parents.pop()
            name = m.group(2)
            if parents and name in classes:
                base = parents[-1][1]
                assert base in [b.__name__ for b in classes[name].__mro__[1:]], f"{name} is drawn under {base}"
            parents.append((depth, name))
