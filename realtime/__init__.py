"""Realtime: the metrics publisher, the Kafka -> WebSocket relay (hub + /v1/stream), alerts."""
