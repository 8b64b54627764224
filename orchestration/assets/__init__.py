"""Assets by layer: ingestion, features, models, predictions."""
