"""The only package that imports confluent-kafka: consumer, config topic, dead letters, topic admin."""
