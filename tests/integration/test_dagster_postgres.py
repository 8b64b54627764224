"""Dagster's instance storage on PostgreSQL (dagster-postgres), as the full deployment runs it."""

import dagster as dg
import pytest
import sqlalchemy as sa

from orchestration.definitions import defs
from tickerpulse.settings import Settings
from tickerpulse.stores.raw import RawStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_runs_events_and_checks_are_stored_in_postgres(
    postgres_database: str, settings: Settings
) -> None:
    RawStore(settings.raw_db_url).add_ticker("AAA", "synthetic")
    url = postgres_database.replace("postgresql://", "postgresql+psycopg2://")
    overrides = {"storage": {"postgres": {"postgres_url": url}}}
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test(overrides=overrides) as instance:
        result = job.execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("raw_prices")]
        )
        assert result.success
        record = instance.get_latest_materialization_event(dg.AssetKey("raw_prices"))
        assert record is not None
        assert record.asset_materialization.metadata["tickers"].value == 1  # type: ignore[union-attr]
    engine = sa.create_engine(postgres_database)
    with engine.connect() as connection:
        runs = connection.execute(sa.text("select count(*) from runs")).scalar_one()
        checks = connection.execute(
            sa.text("select count(*) from asset_check_executions")
        ).scalar_one()
    raw_checks = [
        key
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.asset_key.path == ["raw_prices"]
    ]
    assert runs == 1 and checks == len(raw_checks) == 2
