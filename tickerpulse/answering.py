"""Answer one message of an asynchronous prediction request: one ticker, several horizons.

Framework-free, so the Kafka consumer group and the in-process worker run the same code.
An answer that fails (no model yet, too little history) is recorded as that item's error;
the request still completes.
"""

from __future__ import annotations

from typing import Any

from tickerpulse.errors import TickerPulseError
from tickerpulse.predicting import Predictor
from tickerpulse.stores.prediction_requests import PredictionRequestStore

REQUESTS_TOPIC = "prediction-requests"
PREDICTIONS_TOPIC = "predictions"
WORKER_GROUP = "prediction-workers"


def request_messages(request_id: str, tickers: list[str], horizons: list[int]) -> list[dict]:
    """One message per ticker, keyed by it: a ticker's work goes to one partition."""
    return [{"request_id": request_id, "ticker": t, "horizons": horizons} for t in tickers]


class MalformedRequest(TickerPulseError, ValueError):
    """A prediction-request message that is not one: no answer can come of it."""


def read_request(message: dict[str, Any]) -> tuple[str, str, list[int]]:
    """(request_id, ticker, horizons) of a message, or MalformedRequest saying what is wrong."""
    request_id, ticker, horizons = (message.get(k) for k in ("request_id", "ticker", "horizons"))
    if not isinstance(request_id, str) or not isinstance(ticker, str):
        raise MalformedRequest("a request message needs request_id and ticker as strings")
    if not isinstance(horizons, list) or not all(
        isinstance(h, int) and not isinstance(h, bool) for h in horizons
    ):
        raise MalformedRequest("a request message needs horizons as a list of integers")
    return request_id, ticker, horizons


def answer(
    message: dict[str, Any], predictor: Predictor, store: PredictionRequestStore
) -> list[dict[str, Any]]:
    """Predict and record every horizon of the message; the new predictions, to publish."""
    request_id, ticker, horizons = read_request(message)
    if not store.exists(request_id):
        return []  # another deployment's request on a shared topic, or one purged since
    published = []
    for horizon in horizons:
        try:
            prediction = predictor.predict(ticker, int(horizon))
        except TickerPulseError as error:
            store.record(request_id, ticker, horizon, error=str(error))
            continue
        # A stable id: a redelivered message yields the same event id, which consumers dedupe.
        # Published again even when recorded before: the first worker may have died between.
        prediction["id"] = f"{request_id}-{ticker}-{horizon}"
        store.record(request_id, ticker, horizon, result=prediction)
        published.append({**prediction, "source": "request", "request_id": request_id})
    return published
