"""Kafka roles over confluent-kafka: a spooling observation publisher, the worker's and the
watching console's bus, the anomalies-topic wire format."""
