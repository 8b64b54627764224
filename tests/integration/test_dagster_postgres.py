"""Dagster's instance storage on PostgreSQL (dagster-postgres), as the full deployment runs it."""

import dagster as dg
import pytest
import sqlalchemy as sa

from orchestration.definitions import defs
from tickerpulse.settings import Settings
from tickerpulse.stores.operational import OperationalStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_runs_events_and_checks_are_stored_in_postgres(
    postgres_database: str, settings: Settings
) -> None:
    OperationalStore(settings.raw_db_url).add_ticker("AAA", "synthetic")
    url = postgres_database.replace("postgresql://", "postgresql+psycopg2://")
    overrides = {"storage": {"postgres": {"postgres_url": url}}}
    job = defs.resolve_job_def("ingest_sessions")
    with dg.instance_for_test(overrides=overrides) as instance:
        result = job.execute_in_process(instance=instance, partition_key="2024-06-07")
        assert result.success
        record = instance.get_latest_materialization_event(dg.AssetKey("raw_prices"))
        assert record is not None
        assert record.asset_materialization.partition == "2024-06-07"  # type: ignore[union-attr]
        assert record.asset_materialization.metadata["rows_stored"].value == 1  # type: ignore[union-attr]
    engine = sa.create_engine(postgres_database)
    with engine.connect() as connection:
        runs = connection.execute(sa.text("select count(*) from runs")).scalar_one()
        statuses = connection.execute(
            sa.text("select check_name, execution_status from asset_check_executions")
        ).all()
    finished = {(name, status) for name, status in statuses if status != "PLANNED"}
    raw_checks = [
        key
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.asset_key.path == ["raw_prices"]
    ]
    assert runs == 1 and len(raw_checks) == 2
    # One session stored: rows present, but the ticker is stale against the last session.
    assert finished == {
        ("raw_prices_every_ticker_has_rows", "SUCCEEDED"),
        ("raw_prices_fresh", "FAILED"),
    }
