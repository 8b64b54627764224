"""feature_drift: PSI of the latest quarter's features against the history models train on."""

import dagster as dg

from orchestration.assets.features import price_features
from orchestration.metadata import markdown_table
from orchestration.resources import WarehouseResource
from tickerpulse.features import FEATURES
from tickerpulse.forecasting.drift import SHIFTED
from tickerpulse.forecasting.drift import feature_drift as drift_table


@dg.asset(
    check_specs=[dg.AssetCheckSpec("no_feature_shifted", asset="feature_drift")],
    group_name="models",
    deps=[price_features],
    kinds={"pandas"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Population stability index of each feature: last 63 sessions against all before.",
)
def feature_drift(warehouse: WarehouseResource) -> dg.MaterializeResult:
    # Only the columns drift reads, dates as datetime64 (a date object per row cost seconds).
    features = warehouse.warehouse.read(
        "price_features", columns=", ".join(["date", *FEATURES]), date_objects=False
    )
    table = drift_table(features, FEATURES)
    shifted = table[table["psi"] > SHIFTED]
    return dg.MaterializeResult(
        metadata={
            "max_psi": float(table["psi"].max()),
            "shifted_features": ", ".join(shifted["feature"]) or "none",
            "psi": dg.MetadataValue.md(markdown_table(table, limit=len(table))),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_feature_shifted",
                passed=shifted.empty,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"shifted": len(shifted), "threshold": SHIFTED},
            )
        ],
    )
