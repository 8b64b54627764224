from pathlib import Path

import pytest
from pydantic import ValidationError

from tickerpulse.settings import Settings


def test_embedded_defaults_live_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.raw_db_url == f"sqlite:///{tmp_path / 'raw.db'}"
    assert settings.warehouse_url == f"chdb://{tmp_path / 'warehouse'}"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert settings.mlflow_artifact_uri == (tmp_path / "mlruns").as_uri()
    assert settings.cache_url == "memory://" and settings.events_url == "memory://"
    assert settings.dagster_home == tmp_path / "dagster"


def test_urls_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAW_DB_URL", "postgresql+psycopg://tp@localhost/tp")
    monkeypatch.setenv("CACHE_URL", "redis://localhost:6379/0")
    settings = Settings(data_dir=tmp_path)
    assert settings.raw_db_url.startswith("postgresql")
    assert settings.cache_url == "redis://localhost:6379/0"


@pytest.mark.parametrize(
    ("variable", "value"),
    [("WAREHOUSE_URL", "mysql://x"), ("EVENTS_URL", "rabbit://x"), ("RAW_DB_URL", "not a url")],
)
def test_an_unsupported_url_stops_start_up_with_the_choices(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=f"{variable}=.*use one of"):
        Settings(data_dir=tmp_path)


def test_horizons_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="positive"):
        Settings(data_dir=tmp_path, horizons=[0, 5])
    assert Settings(data_dir=tmp_path, horizons=[5, 1, 5]).horizons == [1, 5]
