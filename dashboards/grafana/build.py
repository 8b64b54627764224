"""TickerPulse's Grafana dashboards as code: `make dashboards` writes dashboards/grafana/*.json.

Three dashboards: `api` (traffic, latency, errors, cache, events, queue, streams), `models`
(realized error against the naive forecast, interval coverage, champions, feature drift) and
`pipelines` (freshness, rows ingested and quarantined). Every query is PromQL over what the
API and the relay export at /metrics (serving/metrics.py, serving/quality_metrics.py,
realtime/tasks.py) and the recording rules of dashboards/prometheus/rules/tickerpulse.yml.

tests/unit/test_dashboards.py fails when the committed JSON differs from what this builds;
tests/integration/test_prometheus.py runs every panel's query on a Prometheus scraping an API.
Quality figures are per API process: panels take `max by (...)` so replicas do not add up.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, stat, text, timeseries
from grafana_foundation_sdk.builders.common import (
    GraphThresholdsStyleConfig,
    ReduceDataOptions,
    VizLegendOptions,
)
from grafana_foundation_sdk.builders.dashboard import Dashboard, Row, ThresholdsConfig
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    GraphThresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
)
from grafana_foundation_sdk.models.dashboard import DataSourceRef, Threshold, ThresholdsMode

OUT = Path(__file__).parent
# The datasource that provisioning/datasources/prometheus.yml creates.
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
RATE = "$__rate_interval"  # Grafana's: at least four scrape intervals

Panel = timeseries.Panel | stat.Panel | bargauge.Panel


def query(expr: str, legend: str = "", instant: bool = False) -> Dataquery:
    built = Dataquery().expr(expr).datasource(DATASOURCE)
    if legend:
        built = built.legend_format(legend)
    return built.instant() if instant else built.range()


def steps(*colors_from: tuple[float | None, str]) -> ThresholdsConfig:
    """Threshold colours from each value up; the first step's value is None (-infinity)."""
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in colors_from])
    )


def _common(panel: Panel, title: str, description: str, unit: str, queries: list[Dataquery]):
    panel = panel.title(title).description(description).datasource(DATASOURCE).unit(unit)
    for ref_id, target in zip("ABCDEFGH", queries, strict=False):
        panel = panel.with_target(target.ref_id(ref_id))
    return panel


def graph(
    title: str,
    description: str,
    unit: str,
    *queries: Dataquery,
    width: int = 12,
    thresholds: ThresholdsConfig | None = None,
) -> timeseries.Panel:
    panel = _common(timeseries.Panel(), title, description, unit, list(queries))
    panel = (
        panel.span(width)
        .height(8)
        .legend(
            VizLegendOptions()
            .display_mode(LegendDisplayMode.LIST)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
        )
    )
    if thresholds is None:
        return panel
    dashed = GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED)
    return panel.thresholds(thresholds).thresholds_style(dashed)


def number(
    title: str,
    description: str,
    unit: str,
    *queries: Dataquery,
    width: int = 6,
    thresholds: ThresholdsConfig | None = None,
) -> stat.Panel:
    panel = _common(stat.Panel(), title, description, unit, list(queries))
    panel = panel.span(width).height(5).reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
    return panel.thresholds(thresholds) if thresholds else panel


def bars(
    title: str,
    description: str,
    unit: str,
    *queries: Dataquery,
    width: int = 12,
    thresholds: ThresholdsConfig | None = None,
) -> bargauge.Panel:
    """One bar per series at its latest value (instant queries): a ranking, not a history."""
    panel = _common(bargauge.Panel(), title, description, unit, list(queries))
    panel = (
        panel.span(width)
        .height(8)
        .display_mode(BarGaugeDisplayMode.GRADIENT)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
    )
    return panel.thresholds(thresholds) if thresholds else panel


def dashboard(uid: str, title: str, description: str, sections: list[tuple[str, list]]) -> dict:
    """A dashboard of rows, panels numbered in order (stable ids keep the JSON deterministic)."""
    built = (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["tickerpulse", "generated"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .editable()
    )
    panel_id = 0
    for row_title, panels in sections:
        panel_id += 1
        built = built.with_row(Row(row_title).id(panel_id))
        for panel in panels:
            panel_id += 1
            built = built.with_panel(panel.id(panel_id))
    return json.loads(JSONEncoder(sort_keys=True).encode(built.build()))


# the dashboards -------------------------------------------------------------------------
def api() -> dict:
    requests = f"rate(tickerpulse_http_requests_total[{RATE}])"
    buckets = f"rate(tickerpulse_http_request_duration_seconds_bucket[{RATE}])"
    hits, misses = (
        f"sum by (kind) (rate(tickerpulse_cache_{name}_total[{RATE}]))"
        for name in ("hits", "misses")
    )
    return dashboard(
        "tickerpulse-api",
        "TickerPulse / API",
        "Requests, latency and errors of the API, its cache, events, training queue and streams.",
        [
            (
                "Traffic",
                [
                    number(
                        "Targets up",
                        "Scrape targets answering: the API (and the relay when it runs on its own).",
                        "none",
                        query('up{job=~"tickerpulse-.*"}', "{{job}} {{instance}}", instant=True),
                        width=24,
                        thresholds=steps((None, "red"), (1, "green")),
                    ),
                    graph(
                        "Requests per second by route",
                        "All responses, by route template (one series per endpoint, not per ticker).",
                        "reqps",
                        query(f"sum by (route) ({requests})", "{{route}}"),
                    ),
                    graph(
                        "Latency p50 / p95 / p99",
                        "Quantiles of request duration over every route, from the histogram buckets.",
                        "s",
                        *(
                            query(
                                f"histogram_quantile({q}, sum by (le) ({buckets}))",
                                f"p{round(q * 100)}",
                            )
                            for q in (0.5, 0.95, 0.99)
                        ),
                    ),
                    graph(
                        "p99 latency by route",
                        "The alert TickerPulseApiLatencyHigh fires when a busy route stays above 0.5 s.",
                        "s",
                        query(
                            f"histogram_quantile(0.99, sum by (route, le) ({buckets}))", "{{route}}"
                        ),
                        thresholds=steps((None, "green"), (0.5, "red")),
                    ),
                    graph(
                        "5xx responses per second by route",
                        "Server errors; 0 for every route that served requests without one.",
                        "reqps",
                        query(
                            f'sum by (route) (rate(tickerpulse_http_requests_total{{status=~"5.."}}[{RATE}]))'
                            f" or 0 * sum by (route) ({requests})",
                            "{{route}}",
                        ),
                    ),
                ],
            ),
            (
                "Cache, events and queues",
                [
                    graph(
                        "Cache hit ratio by kind",
                        "Share of cacheable reads answered from the cache (Redis, or memory when embedded).",
                        "percentunit",
                        query(f"{hits} / ({hits} + {misses})", "{{kind}}"),
                    ),
                    graph(
                        "Cache errors per second",
                        "Cache calls that failed and were bypassed (Redis down): reads still answer.",
                        "ops",
                        query(f"sum(rate(tickerpulse_cache_errors_total[{RATE}]))", "errors"),
                    ),
                    graph(
                        "Events per second by outcome",
                        "Events published to the bus (Kafka in full mode): delivered, failed (retried), dropped (lost).",
                        "ops",
                        query(
                            f"sum by (outcome) (rate(tickerpulse_events_total[{RATE}]))",
                            "{{outcome}}",
                        ),
                    ),
                    graph(
                        "Events buffered and dropped",
                        "Events waiting for the broker, and every event dropped since the process started.",
                        "short",
                        query("sum(tickerpulse_events_buffered)", "buffered"),
                        query(
                            'sum(tickerpulse_events_total{outcome="dropped"})', "dropped (total)"
                        ),
                        thresholds=steps((None, "green"), (1, "red")),
                    ),
                    graph(
                        "Celery queue depth",
                        "Training tasks waiting for a worker (no value while the broker is unreachable).",
                        "short",
                        query("max(tickerpulse_celery_queue_depth)", "waiting"),
                    ),
                    graph(
                        "WebSocket stream",
                        "Clients subscribed to /v1/stream, and messages queued to them per second.",
                        "short",
                        query("sum(tickerpulse_stream_clients)", "clients"),
                        query(
                            f"sum(rate(tickerpulse_stream_deliveries_total[{RATE}]))",
                            "deliveries / s",
                        ),
                        query(
                            f"sum(rate(tickerpulse_stream_duplicates_total[{RATE}]))",
                            "duplicates skipped / s",
                        ),
                    ),
                ],
            ),
        ],
    )


def models() -> dict:
    return dashboard(
        "tickerpulse-models",
        "TickerPulse / Models",
        "Published forecasts against what came: error relative to the random walk, interval "
        "coverage, the champions serving them, and how far features moved.",
        [
            (
                "Realized accuracy",
                [
                    graph(
                        "Realized error vs naive, per ticker and horizon",
                        "MAE of the latest 60 realized forecasts over the MAE of tomorrow = today on "
                        "the same days. Below 1 the model beats the random walk; above 1.2 the anomaly "
                        "detector raises an alert.",
                        "none",
                        query(
                            "max by (ticker, horizon) (tickerpulse_forecast_error_vs_naive_ratio)",
                            "{{ticker}} h{{horizon}}",
                        ),
                        width=24,
                        thresholds=steps((None, "green"), (1, "yellow"), (1.2, "red")),
                    ),
                    graph(
                        "80 % interval coverage, pooled per horizon",
                        "Share of realized closes inside the 80 % interval, over all tickers. "
                        "TickerPulseCoverageOffTarget fires outside 70-90 %.",
                        "percentunit",
                        query("horizon:tickerpulse_forecast_coverage_80:ratio", "h{{horizon}}"),
                        thresholds=steps((None, "red"), (0.7, "green"), (0.9, "red")),
                    ),
                    bars(
                        "Interval coverage per ticker",
                        "Share of realized closes inside each interval: 80 % and 95 % are the targets.",
                        "percentunit",
                        query(
                            "max by (ticker, horizon, level) (tickerpulse_forecast_interval_coverage_ratio)",
                            "{{ticker}} h{{horizon}} {{level}} %",
                            instant=True,
                        ),
                    ),
                    bars(
                        "Served interval coverage by volatility tercile",
                        "Share of realized closes inside the served intervals, by the volatility "
                        "tercile of the session each forecast was made from (its volatility_20 "
                        "ranked among the ticker's previous three years). Each should sit near its "
                        "level: a calm tercile far above and a turbulent one far below is what the "
                        "adaptive intervals are there to prevent.",
                        "percentunit",
                        query(
                            "max by (horizon, level, volatility) "
                            "(tickerpulse_served_interval_coverage_by_volatility_ratio)",
                            "h{{horizon}} {{level}} % {{volatility}}",
                            instant=True,
                        ),
                        width=24,
                    ),
                    bars(
                        "Realized forecasts scored",
                        "Forecasts whose target session has closed, behind the figures above (60 at most).",
                        "short",
                        query(
                            "max by (ticker, horizon) (tickerpulse_forecasts_scored)",
                            "{{ticker}} h{{horizon}}",
                            instant=True,
                        ),
                        width=24,
                    ),
                ],
            ),
            (
                "Champions and drift",
                [
                    number(
                        "Champion version",
                        "The registry version behind each horizon's forecasts (its model kind in brackets).",
                        "none",
                        query(
                            "max by (model_name, model) (tickerpulse_champion_version)",
                            "{{model_name}} ({{model}})",
                            instant=True,
                        ),
                        width=24,
                    ),
                    bars(
                        "Feature drift (PSI)",
                        "Population stability index of each feature, last 63 sessions against all "
                        "before: below 0.1 stable, above 0.25 shifted. month is high by construction.",
                        "none",
                        query(
                            "max by (feature) (tickerpulse_feature_drift_psi)",
                            "{{feature}}",
                            instant=True,
                        ),
                        thresholds=steps((None, "green"), (0.1, "yellow"), (0.25, "red")),
                    ),
                    graph(
                        "Feature drift over time",
                        "PSI of each feature as materializations of price_features come in.",
                        "none",
                        query("max by (feature) (tickerpulse_feature_drift_psi)", "{{feature}}"),
                        thresholds=steps((None, "green"), (0.25, "red")),
                    ),
                ],
            ),
        ],
    )


def pipelines() -> dict:
    return dashboard(
        "tickerpulse-pipelines",
        "TickerPulse / Pipelines",
        "Whether prices arrive: freshness per ticker, rows ingested and quarantined.",
        [
            (
                "Freshness",
                [
                    bars(
                        "Sessions behind",
                        "Trading sessions between a ticker's newest clean price and the last completed "
                        "session. 1 is normal before the evening ingestion; TickerPulseDataStale fires above.",
                        "short",
                        query(
                            "max by (ticker) (tickerpulse_sessions_behind)",
                            "{{ticker}}",
                            instant=True,
                        ),
                        thresholds=steps((None, "green"), (2, "yellow"), (5, "red")),
                    ),
                    bars(
                        "Age of the newest clean price",
                        "Days since each ticker's newest row in clean_prices (weekends count).",
                        "d",
                        query(
                            "(time() - max by (ticker) (tickerpulse_clean_prices_last_date_timestamp_seconds)) / 86400",
                            "{{ticker}}",
                            instant=True,
                        ),
                    ),
                    bars(
                        "Hours since the last ingestion",
                        "When each ticker's rows were last written to the operational store.",
                        "h",
                        query(
                            "(time() - max by (ticker) (tickerpulse_raw_prices_last_ingested_timestamp_seconds)) / 3600",
                            "{{ticker}}",
                            instant=True,
                        ),
                        width=24,
                    ),
                ],
            ),
            (
                "Rows",
                [
                    graph(
                        "Rows ingested",
                        "Rows in the operational store, all tickers, and the cleaned rows derived from them.",
                        "short",
                        query("sum(max by (ticker) (tickerpulse_raw_price_rows))", "raw"),
                        query("sum(max by (ticker) (tickerpulse_clean_price_rows))", "clean"),
                    ),
                    graph(
                        "Quarantined rows",
                        "Input rows rejected with a reason (kept, never dropped): see the quarantine "
                        "table or the Dagster UI for the reasons.",
                        "short",
                        query("max by (ticker) (tickerpulse_quarantined_rows)", "{{ticker}}"),
                        thresholds=steps((None, "green"), (1, "yellow")),
                    ),
                    bars(
                        "Raw rows per ticker",
                        "Rows ingested per ticker.",
                        "short",
                        query(
                            "max by (ticker) (tickerpulse_raw_price_rows)",
                            "{{ticker}}",
                            instant=True,
                        ),
                    ),
                    graph(
                        "Quality figures: refresh time and failures",
                        "How long the API took to recompute these figures (every 30 s at most), and "
                        "parts that failed to recompute (their previous figures were kept).",
                        "s",
                        query("max(tickerpulse_quality_refresh_seconds)", "refresh seconds"),
                        query(
                            "sum by (part) (tickerpulse_quality_refresh_errors_total)",
                            "failures: {{part}}",
                        ),
                    ),
                    bars(
                        "Failing asset checks",
                        "1 for each asset check whose latest evaluation failed (read from the "
                        "Dagster instance beside the API), 0 for those that passed.",
                        "short",
                        query(
                            "max by (asset, check) (tickerpulse_asset_check_failed)",
                            "{{asset}}: {{check}}",
                            instant=True,
                        ),
                    ),
                    text.Panel()
                    .title("Asset checks")
                    .span(24)
                    .height(3)
                    .content(
                        "The counts and examples behind each check (OHLC consistency, duplicates, "
                        "calendar gaps, the promotion gate, coverage) are in **Asset checks** in "
                        "the Dagster UI (port 3000)."
                    ),
                ],
            ),
        ],
    )


DASHBOARDS: dict[str, Callable[[], dict]] = {"api": api, "models": models, "pipelines": pipelines}


def render(build: Callable[[], dict]) -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    for name, build in DASHBOARDS.items():
        path = OUT / f"{name}.json"
        path.write_text(render(build))
        print(f"wrote {path.relative_to(OUT.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
