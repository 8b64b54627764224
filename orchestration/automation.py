"""Declarative automation: new raw days carry themselves downstream."""

import dagster as dg

# eager() waits until no upstream partition is missing; twenty years of trading days are
# rarely all present, so downstream assets react to updates without that condition.
on_upstream_update = dg.AutomationCondition.eager().without(
    ~dg.AutomationCondition.any_deps_missing()
)

weekly_retrain = dg.AutomationCondition.on_cron("0 18 * * 5", "America/New_York")

# Dagster creates a default automation sensor, stopped; this one runs from the start so the
# conditions above act in `dagster dev` and in a deployment alike.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
