# tikstream — `make` or `make help` lists the targets.
SHELL := /bin/bash
PY := .venv/bin/python
KAFKA_PORT ?= 9092
export KAFKA_PORT
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

setup: .venv/.installed .venv/.native ## create .venv, install tikstream editable (dev, emulator extras) and build its native core

.venv/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,emulator]'
	@touch $@

# the native events core (native/, Rust through PyO3): needs cargo; pip fetches maturin to build the wheel
.venv/.native: .venv/.installed native/Cargo.toml native/pyproject.toml $(wildcard native/src/*.rs)
	@command -v cargo >/dev/null || { echo "setup: cargo not found: install a Rust toolchain (https://rustup.rs)"; exit 1; }
	$(PY) -m pip install -q --force-reinstall --no-deps ./native
	@touch $@

include tools/kafka/kafka.mk

DEMO_ARGS ?=

demo: setup ## local Kafka + TikTok emulator + tikstream + example jobs + sample triggers, then a summary
	@mkdir -p .demo
	@if $(PY) tools/kafka/local.py status >/dev/null 2>&1; then $(MAKE) --no-print-directory kafka-up; \
	else $(MAKE) --no-print-directory kafka-up && echo $(KAFKA_PORT) > .demo/kafka-started-by-demo; fi
	TIKSTREAM_BOOTSTRAP_SERVERS=127.0.0.1:$(KAFKA_PORT) .venv/bin/tikstream demo $(DEMO_ARGS)

demo-down: ## stop the demo's emulator and tikstream, and Kafka too if `make demo` started it
	@if [ -x .venv/bin/tikstream ]; then .venv/bin/tikstream demo stop; fi
	@if [ -f .demo/kafka-started-by-demo ]; then \
	  KAFKA_PORT=$$(cat .demo/kafka-started-by-demo) $(PY) tools/kafka/local.py down \
	  && rm -f .demo/kafka-started-by-demo; fi

.PHONY: demo demo-down

run: setup ## run tikstream against local Kafka (settings from TIKSTREAM_* variables)
	.venv/bin/tikstream run

test: setup kafka-up ## unit, contract and integration tests (starts local Kafka if needed)
	$(PY) -m pytest -q $(PYTEST_ARGS)

unit: setup ## unit tests only (no Kafka)
	$(PY) -m pytest -q -m "not integration" $(PYTEST_ARGS)

lint: setup lint-prom ## ruff, mypy --strict, the import contract (import-linter) and promtool on the Prometheus files
	.venv/bin/ruff check tikstream tests bench tools
	.venv/bin/mypy tikstream
	.venv/bin/lint-imports

schemas: setup ## regenerate schemas/*.json from the models, and docs/jobs.md from the schemas
	$(PY) -m tikstream.schemas
	$(PY) -m tikstream.schemas_doc

bench: setup kafka-up ## run the benchmarks; results in bench/results/latest.json
	$(PY) bench/run.py --out bench/results/latest.json

.PHONY: help setup run test unit lint schemas bench

PROMETHEUS_DIR := deploy/prometheus

lint-prom: ## promtool check config/rules on deploy/prometheus (skipped, with a hint, without promtool)
	@if command -v promtool >/dev/null 2>&1; then \
	  promtool check config $(PROMETHEUS_DIR)/prometheus.yml && promtool check rules $(PROMETHEUS_DIR)/alerts.yml; \
	else echo "lint-prom: promtool not found, Prometheus checks skipped (apt-get install prometheus; .ci/run does)"; fi

.PHONY: lint-prom

chaos: setup kafka-up ## fault run: 3 instances, SIGKILLs, a broker restart, TikTok throttling; exits 1 on any loss
	$(PY) tools/chaos/run.py --out bench/results/chaos.json

.PHONY: chaos

SOAK_SECONDS ?= 1200
SOAK_NOTE ?=

soak: setup kafka-up ## 20 min (SOAK_SECONDS) at 2,000 triggers/s, 1 % errors, 5 % throttling: RSS, threads, fds, lag, latency; exits 1 on loss or a missed goal
	$(PY) tools/soak/run.py --seconds $(SOAK_SECONDS) --out bench/results/soak.json --plot docs/soak.svg --note "$(SOAK_NOTE)"

.PHONY: soak
