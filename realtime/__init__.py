"""Realtime: the metrics publisher now; the Kafka -> WebSocket relay and anomaly detector next."""
