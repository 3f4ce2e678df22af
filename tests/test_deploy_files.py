"""The deployment files, checked without a Docker engine: docker-compose.yml (services, ports, profiles, files
it mounts), the Dockerfile, Prometheus (scrape config, alert rules) and the Grafana dashboard; every tikstream
metric they use exists in docs/metrics.md; and the generated docs/jobs.md is up to date."""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tikstream import schemas_doc
from tikstream.demo.prometheus import scrape_config
from tikstream.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
METRIC = re.compile(r"\btikstream_[a-z0-9_]+")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = _yaml(COMPOSE)
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return dict(compose["services"])


def _documented() -> set[str]:
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `(tikstream_[a-z0-9_]+)`", text, flags=re.MULTILINE))


def _undocumented(used: set[str]) -> set[str]:
    documented = _documented()

    def known(name: str) -> bool:
        if name in documented:
            return True
        return any(name.endswith(s) and name.removesuffix(s) in documented for s in HISTOGRAM_SUFFIXES)

    return {name for name in used if not known(name)}


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


# -- docker-compose.yml ---------------------------------------------------------------------------------------

def test_compose_has_the_stack(services: dict[str, Any]) -> None:
    assert {"kafka", "kafka-init", "tikstream", "emulator", "prometheus", "grafana"} <= set(services)


@pytest.mark.parametrize(("service", "port"), [
    pytest.param("kafka", "29092:29092", id="kafka-for-the-host"),
    pytest.param("tikstream", "9464:9464", id="tikstream-metrics"),
    pytest.param("emulator", "18080:18080", id="emulator"),
    pytest.param("prometheus", "9090:9090", id="prometheus"),
    pytest.param("grafana", "3000:3000", id="grafana"),
])  # fmt: skip
def test_compose_ports(services: dict[str, Any], service: str, port: str) -> None:
    assert port in [str(p) for p in services[service].get("ports", [])]


def test_kafka_is_kraft_from_the_official_image(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert not any("ZOOKEEPER" in k for k in env)
    assert "healthcheck" in kafka


def test_topic_setup_is_one_shot_and_creates_the_topics(services: dict[str, Any]) -> None:
    init = services["kafka-init"]
    assert init["restart"] == "no"
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    script = " ".join(init["command"])
    for topic in ("tikstream.triggers", "tikstream.jobs", "tikstream.dlq"):
        assert f"--topic {topic}" in script
    assert "cleanup.policy=compact" in script


def test_tikstream_service(services: dict[str, Any], compose: dict[str, Any]) -> None:
    svc = services["tikstream"]
    env = _env(svc)
    assert env["TIKSTREAM_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert "emulator:18080/open_api/v1.3" in env["TIKSTREAM_TIKTOK_BASE_URL"]
    assert svc["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"
    assert svc["depends_on"]["emulator"]["required"] is False, "tikstream must start without the local profile"
    secret = env["TIKSTREAM_AUTH_FILE"].removeprefix("/run/secrets/")
    assert secret in svc["secrets"] and secret in compose["secrets"]
    assert "healthcheck" in svc


def test_every_tikstream_variable_is_a_setting(services: dict[str, Any]) -> None:
    names = {f"TIKSTREAM_{n.upper()}" for n in Settings.model_fields}
    for name, svc in services.items():
        for key in _env(svc):
            if key.startswith("TIKSTREAM_") and not key.startswith("TIKSTREAM_KAFKA__"):
                assert key in names, f"{name}: {key} is not a setting (docs/architecture.md §7)"


def test_emulator_only_in_the_local_profile(services: dict[str, Any]) -> None:
    assert services["emulator"]["profiles"] == ["local"]
    assert "--tokens" in services["emulator"]["command"]
    for name in ("kafka", "kafka-init", "tikstream", "prometheus", "grafana"):
        assert "profiles" not in services[name], f"{name} must run in every profile"


def test_mounted_files_exist(services: dict[str, Any], compose: dict[str, Any]) -> None:
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
    default = re.search(r":-([^}]+)}", compose["secrets"]["tikstream-auth"]["file"])
    assert default is not None and (ROOT / default[1]).is_file()


def _host_path(service: dict[str, Any], container_path: str) -> Path | None:
    """The file of the checkout that a path inside the container is, through the service's bind mounts."""
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        inside = posixpath.relpath(container_path, target)
        if source.startswith("./") and not inside.startswith(".."):
            return (ROOT / source / inside).resolve()
    return None


def test_compose_prometheus_and_grafana_run_the_tested_files(services: dict[str, Any]) -> None:
    """Not copies: the config, rules and dashboard in the containers are the files the tests run."""
    prometheus = services["prometheus"]
    (config,) = [a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file=")]
    assert _host_path(prometheus, config) == (PROMETHEUS / "prometheus.yml").resolve()
    rules = [posixpath.join(posixpath.dirname(config), f) for f in _yaml(PROMETHEUS / "prometheus.yml")["rule_files"]]
    assert [_host_path(prometheus, f) for f in rules] == [(PROMETHEUS / "alerts.yml").resolve()]
    grafana = services["grafana"]
    home = _env(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert _host_path(grafana, home) == (GRAFANA / "dashboards" / "tikstream.json").resolve()


def test_dockerfile() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11", text, flags=re.MULTILINE)
    assert 'ENTRYPOINT ["tikstream"]' in text and 'CMD ["run"]' in text
    assert "EXPOSE 9464" in text
    user = re.findall(r"^USER (\S+)", text, flags=re.MULTILINE)
    assert user and user[-1] not in ("root", "0")
    copies = re.findall(r"^COPY .*$", text, flags=re.MULTILINE)
    assert not [c for c in copies if "auth" in c or "examples " in c], "no authorization file in the image"


# -- Prometheus and Grafana -----------------------------------------------------------------------------------

def test_prometheus_scrapes_tikstream_and_loads_the_rules() -> None:
    config = _yaml(PROMETHEUS / "prometheus.yml")
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "tikstream"]
    assert job["static_configs"][0]["targets"] == ["tikstream:9464"]
    assert job["honor_labels"] is True, "else the job id label of tikstream's metrics arrives as exported_job"
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS / rule_file).is_file(), "rule files are relative to the config (compose and tests)"


def test_generated_scrape_config_changes_only_the_target_and_interval() -> None:
    """What `make demo` and the real-scrape test run: deploy/prometheus/prometheus.yml, another target."""
    real = _yaml(PROMETHEUS / "prometheus.yml")
    made = scrape_config(PROMETHEUS / "prometheus.yml", "127.0.0.1:1234", "1s")
    assert made["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:1234"]
    assert made["global"]["scrape_interval"] == "1s"
    assert made["rule_files"] == [str((PROMETHEUS / "alerts.yml").resolve())]
    for doc in (real, made):
        doc["scrape_configs"][0]["static_configs"][0].pop("targets")
        doc["global"].pop("scrape_interval")
        doc.pop("rule_files")
    assert made == real


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _yaml(PROMETHEUS / "alerts.yml")["groups"] for rule in group["rules"]]


def test_alert_rules_cover_the_operators_questions() -> None:
    rules = {r["alert"]: r for r in _rules()}
    wanted = {"consumer lag growing": "tikstream_consumer_lag", "DLQ rate": "tikstream_dlq_records_total",
              "a job paused": "tikstream_job_paused", "audience failing": 'tikstream_audience_state{state="failing"}',
              "TikTok error rate": "tikstream_tiktok_requests_total"}
    for what, needle in wanted.items():
        assert any(needle in r["expr"] for r in rules.values()), f"no alert on {what}"
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), name
        assert rule["annotations"]["summary"], name


def _dashboard() -> dict[str, Any]:
    doc = json.loads((GRAFANA / "dashboards" / "tikstream.json").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _exprs() -> list[str]:
    return [t["expr"] for p in _dashboard()["panels"] for t in p.get("targets", [])]


def test_dashboard_is_provisioned_over_the_provisioned_datasource() -> None:
    datasources = _yaml(GRAFANA / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    uids = {d["uid"] for d in datasources}
    providers = _yaml(GRAFANA / "provisioning" / "dashboards" / "tikstream.yml")["providers"]
    assert providers[0]["options"]["path"] == "/etc/grafana/dashboards"
    dashboard = _dashboard()
    assert dashboard["uid"] == "tikstream"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 20
    for panel in panels:
        assert panel["datasource"]["uid"] in uids and panel["targets"], panel["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_documented_metric_is_on_the_dashboard() -> None:
    used = {m for e in _exprs() for m in METRIC.findall(e)}
    shown = {m.removesuffix(s) for m in used for s in ("", *HISTOGRAM_SUFFIXES) if m.endswith(s)}
    assert _documented() - shown == set()


@pytest.mark.parametrize("source", [
    pytest.param("dashboard", id="dashboard"),
    pytest.param("alerts", id="alerts"),
])  # fmt: skip
def test_metrics_used_are_documented(source: str) -> None:
    exprs = _exprs() if source == "dashboard" else [r["expr"] for r in _rules()]
    used = {m for e in exprs for m in METRIC.findall(e)}
    assert used
    assert _undocumented(used) == set(), "not in docs/metrics.md"


# -- generated docs and make targets --------------------------------------------------------------------------

def test_job_reference_is_up_to_date() -> None:
    assert schemas_doc.main(["--root", str(ROOT), "--check"]) == 0, "run `python -m tikstream.schemas_doc`"


def test_job_reference_covers_every_field() -> None:
    schema = json.loads((ROOT / "schemas" / "job.schema.json").read_text(encoding="utf-8"))
    page = (ROOT / "docs" / "jobs.md").read_text(encoding="utf-8")
    for model in schema["$defs"].values():
        for field in model["properties"]:
            assert f"| `{field}` |" in page


def test_readme_links_the_job_reference_and_the_demo() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/jobs.md" in readme and "make demo-down" in readme and "tikstream auth login" in readme


def test_make_demo_targets_are_documented() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("demo", "demo-down"):
        assert re.search(rf"^{target}:.*## \S", makefile, flags=re.MULTILINE), target
