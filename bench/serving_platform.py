"""The platform bench_serving loads: the demo universe materialized into a fresh data dir.

python -m bench.serving_platform DATA_DIR TICKER [TICKERS]  ->  one JSON line: a client API key, the
champion's model URI and version, and the one-row input the API feeds that champion.

Built the way tests/conftest.py's `materialized_platform` builds it (demo universe, then
orchestration.bootstrap in a temporary Dagster instance), in its own process so the caller
can bound it in time and its settings never leak into the caller's.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def build(data_dir: str, ticker: str, tickers: int) -> dict[str, Any]:
    """The demo universe with `tickers` tickers in all (5: the demo itself)."""
    os.environ["TICKERPULSE_DATA_DIR"] = data_dir

    import dagster as dg

    from orchestration.bootstrap import materialize_everything
    from tickerpulse.demo import load_demo_universe
    from tickerpulse.features import FEATURES
    from tickerpulse.forecasting.models import input_frame
    from tickerpulse.predicting import Predictor
    from tickerpulse.settings import get_settings
    from tickerpulse.stores.api_keys import ApiKeyStore
    from tickerpulse.stores.operational import OperationalStore
    from tickerpulse.stores.registry import ModelRegistry
    from tickerpulse.stores.warehouse import open_warehouse

    settings = get_settings()
    store = OperationalStore(settings.raw_db_url)
    load_demo_universe(store, tickers=tickers)
    with dg.instance_for_test() as instance:
        results = materialize_everything(instance)
    if len(results) != 3 or not all(r.success for r in results):
        raise SystemExit("materializing the demo platform failed")
    # The budget is set out of reach: the bench measures serving, not the rate limit.
    key = ApiKeyStore(store).create("bench", "client", rate_per_minute=1_000_000_000)
    registry = ModelRegistry(settings.mlflow_tracking_uri, settings.mlflow_artifact_uri)
    predictor = Predictor(
        registry,
        open_warehouse(settings.warehouse_url),
        settings.model_name,
        settings.horizons,
        settings.exchange,
    )
    horizon = settings.horizons[0]
    champion = predictor.champion(horizon)
    # What Predictor.predict hands the estimator (champion_forecasts -> input_frame).
    row = input_frame(champion.estimator, predictor.latest_features(ticker), FEATURES)
    return {
        "api_key": key,
        "horizon": horizon,
        "model_uri": f"models:/{champion.name}/{champion.version}",
        "model_class": type(champion.estimator).__name__,
        "tracking_uri": settings.mlflow_tracking_uri,
        "invocation": {"dataframe_split": json.loads(row.to_json(orient="split", index=False))},
    }


if __name__ == "__main__":
    tickers = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    print(json.dumps(build(sys.argv[1], sys.argv[2], tickers)))
