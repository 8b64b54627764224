"""Declarative automation: new raw days carry themselves downstream."""

import dagster as dg

# eager() waits until no upstream partition is missing; twenty years of trading days are
# rarely all present, so downstream assets react to updates without that condition.
on_upstream_update = dg.AutomationCondition.eager().without(
    ~dg.AutomationCondition.any_deps_missing()
)

weekly_retrain = dg.AutomationCondition.on_cron("0 18 * * 5", "America/New_York")
