# Local Apache Kafka (docs/architecture.md §10), included by the top-level Makefile, which defines PY (.venv/bin/python).
# KAFKA_PORT (default 9092) and KAFKA_CONTROLLER_PORT (default: a free port) are read from the environment.
.PHONY: kafka-up kafka-down

kafka-up: ## Start local Kafka on 127.0.0.1:$KAFKA_PORT (default 9092); jars from Maven Central, cached in .cache/kafka
	$(PY) tools/kafka/local.py up

kafka-down: ## Stop the local Kafka broker started by kafka-up
	$(PY) tools/kafka/local.py down
