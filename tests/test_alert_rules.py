"""The alert rules, run: ``promtool test rules deploy/prometheus/alerts.test.yml`` passes, and that file covers every
alert of alerts.yml with a case where it fires (labels and annotations asserted) and one where it stays quiet;
an alert with a ``for:`` duration is also checked one evaluation before it fires (still pending)."""

from __future__ import annotations

import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMETHEUS = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
TESTS = PROMETHEUS / "alerts.test.yml"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _alerts() -> dict[str, dict[str, Any]]:
    rules = [rule for group in _yaml(RULES)["groups"] for rule in group["rules"]]
    return {rule["alert"]: rule for rule in rules if "alert" in rule}


def _cases() -> list[dict[str, Any]]:
    doc = _yaml(TESTS)
    assert [Path(f).name for f in doc["rule_files"]] == [RULES.name]
    assert (TESTS.parent / doc["rule_files"][0]).resolve() == RULES, "the tests must load the real alerts.yml"
    return list(doc["tests"])


def test_promtool_test_rules_passes() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not on PATH: apt-get install prometheus (.ci/run installs it)")
    done = subprocess.run([promtool, "test", "rules", str(TESTS)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    alerts = _alerts()
    firing: dict[str, list[dict[str, Any]]] = defaultdict(list)
    quiet: set[str] = set()
    pending_then_firing: set[str] = set()
    for case in _cases():
        outcomes: dict[str, set[bool]] = defaultdict(set)
        for check in case["alert_rule_test"]:
            name = check["alertname"]
            assert name in alerts, f"test {case['name']!r} checks {name!r}, which alerts.yml does not define"
            expected = check.get("exp_alerts") or []
            outcomes[name].add(bool(expected))
            if expected:
                firing[name].extend(expected)
            else:
                quiet.add(name)
        pending_then_firing |= {name for name, seen in outcomes.items() if seen == {True, False}}

    problems = []
    for name, rule in alerts.items():
        if not firing[name]:
            problems.append(f"{name}: no case where it fires")
        if name not in quiet:
            problems.append(f"{name}: no case where it must not fire")
        if "for" in rule and name not in pending_then_firing:
            problems.append(f"{name}: for: {rule['for']}, but no case checks it pending before it fires")
        for alert in firing[name]:
            if alert.get("exp_labels", {}).get("severity") != rule["labels"]["severity"]:
                problems.append(f"{name}: a firing case does not assert severity {rule['labels']['severity']}")
            if set(alert.get("exp_annotations", {})) != set(rule.get("annotations", {})):
                problems.append(f"{name}: a firing case does not assert the annotations {sorted(rule['annotations'])}")
    assert not problems, "deploy/prometheus/alerts.test.yml:\n" + "\n".join(problems)
