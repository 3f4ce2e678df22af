"""tests/promql_selectors.py, which the real-scrape test uses to check every selector of the alerts and the
dashboard against Prometheus: what it takes for a selector, and what it does not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from promql_selectors import selectors

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("expr", "expected"), [
    pytest.param('up{job="tikstream"} == 0', [('up{job="tikstream"}', ())], id="matchers"),
    pytest.param("sum by (topic) (tikstream_a) > 1000 and sum by (topic) (deriv(tikstream_a[10m])) > 0",
                 [("tikstream_a", ("topic",)), ("tikstream_a", ("topic",))], id="by-prefix-and-range"),
    pytest.param("sum(rate(x[1m])) by (job) / on (job) group_left (extra) y offset 5m",
                 [("x", ("job",)), ("y", ())], id="by-postfix-on-group-left-offset"),
    pytest.param("histogram_quantile(0.95, sum by (le, sink) (rate(tikstream_b_bucket[5m:1m])))",
                 [("tikstream_b_bucket", ("le", "sink"))], id="subquery"),
    pytest.param("max without (instance) (increase(c[15m])) > 0", [("c", ())], id="without"),
    pytest.param("sum(d) or vector(0)", [("d", ())], id="functions"),
    pytest.param("max by (state) (sum by (instance, state) (e))", [("e", ("instance", "state"))], id="innermost-by"),
    pytest.param('{__name__=~"tikstream_.+", a="}"}', [('{__name__=~"tikstream_.+", a="}"}', ())], id="bare-braces"),
    pytest.param('label_replace(f, "dst", "$1", "src", "(g.*)") > Inf # h', [("f", ())], id="strings-comment-inf"),
    pytest.param("time() - max by (job) (i) > 3 * 3600", [("i", ("job",))], id="numbers"),
])  # fmt: skip
def test_selectors(expr: str, expected: list[tuple[str, tuple[str, ...]]]) -> None:
    assert [(s.text, s.by) for s in selectors(expr)] == expected


@pytest.mark.parametrize("expr", ["sum(rate(x[5m])", 'x{a="b}', "x)"])
def test_unbalanced_is_an_error(expr: str) -> None:
    with pytest.raises(ValueError):
        selectors(expr)


def _project_exprs() -> list[str]:
    alerts = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "tikstream.json").read_text(encoding="utf-8"))
    return ([r["expr"] for g in alerts["groups"] for r in g["rules"]]
            + [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])])


def test_every_metric_named_in_the_project_files_is_a_selector() -> None:
    for expr in _project_exprs():
        named = set(re.findall(r"\b(?:tikstream_[a-z0-9_]+|up)\b", expr))
        assert {s.metric for s in selectors(expr)} == named, expr
