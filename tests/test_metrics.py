"""The metrics catalogue (docs/metrics.md) and the code cannot drift apart."""

from __future__ import annotations

import re
from pathlib import Path

from tikstream.metrics import Metrics

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def documented() -> dict[str, set[str]]:
    rows = re.findall(r"^\| `(tikstream_[a-z0-9_]+)` \| \w+ \|([^|]*)\|", DOC.read_text(), re.M)
    return {name: set(re.findall(r"`(\w+)`", labels)) for name, labels in rows}


def emitted() -> dict[str, set[str]]:
    metrics = Metrics()
    out = {}
    for collector in list(metrics.registry._collector_to_names):  # every family registered by Metrics
        name = collector._name  # type: ignore[attr-defined]
        if collector._type == "counter":  # type: ignore[attr-defined]
            name += "_total" if not name.endswith("_total") else ""
        out[name] = set(collector._labelnames)  # type: ignore[attr-defined]
    return out


def test_every_emitted_metric_is_documented_with_its_labels() -> None:
    docs, code = documented(), emitted()
    assert set(code) - set(docs) == set(), "add these to docs/metrics.md"
    assert set(docs) - set(code) == set(), "docs/metrics.md lists metrics the code does not have"
    for name, labels in code.items():
        assert docs[name] == labels, f"{name}: labels in code {labels}, in docs {docs[name]}"


def test_names_follow_prometheus_conventions() -> None:
    for name in emitted():
        assert name.startswith("tikstream_")
        assert not name.endswith("_count") and not name.endswith("_sum")


def test_no_metric_is_defined_outside_metrics_py() -> None:
    package = Path(__file__).resolve().parents[1] / "tikstream"
    offenders = [
        str(p.relative_to(package)) for p in package.rglob("*.py")
        if p.name != "metrics.py" and re.search(r"\b(Counter|Gauge|Histogram|Summary)\(", p.read_text())
        and "prometheus_client" in p.read_text()
    ]
    assert offenders == []
