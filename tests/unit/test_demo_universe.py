"""`tickerpulse up --demo-tickers N`: the demo universe at the size users run."""

import pytest
from typer.testing import CliRunner

from launcher.cli import app
from tickerpulse.demo import MAX_DEMO_TICKERS, load_demo_universe, synthetic_symbols
from tickerpulse.settings import Settings
from tickerpulse.stores.operational import OperationalStore


def test_a_larger_demo_universe_adds_synthetic_tickers_of_their_own(
    operational_store: OperationalStore,
) -> None:
    reports = load_demo_universe(operational_store, years=1, tickers=8)
    symbols = [row["symbol"] for row in operational_store.list_tickers()]
    assert sorted(symbols) == sorted(
        ["GOOG", "SPX", "ACME", "GLOBEX", "INITECH", "SYN0001", "SYN0002", "SYN0003"]
    )
    assert operational_store.ticker("SYN0003")["source"] == "synthetic"  # type: ignore[index]
    by_ticker = {r.ticker: r for r in reports}
    # A year of sessions each (NYSE: about 250), nothing rejected.
    assert all(245 <= by_ticker[s].stored <= 253 for s in ("SYN0001", "SYN0002", "SYN0003"))
    assert all(r.rejected == 0 for r in reports)
    prices = operational_store.read_prices(["SYN0001", "SYN0002"])
    closes = prices.pivot(index="date", columns="ticker", values="close")
    assert (closes["SYN0001"] != closes["SYN0002"]).all()  # series of their own, not copies


def test_the_demo_size_is_bounded() -> None:
    assert synthetic_symbols(5) == ("ACME", "GLOBEX", "INITECH")
    assert len(synthetic_symbols(MAX_DEMO_TICKERS)) == MAX_DEMO_TICKERS - 2
    for size in (4, MAX_DEMO_TICKERS + 1):
        with pytest.raises(ValueError, match="5 to 3000 tickers"):
            synthetic_symbols(size)


@pytest.mark.parametrize("size", ["4", "3001", "many"])
def test_up_refuses_a_demo_size_out_of_bounds_before_starting_anything(
    settings: Settings, size: str
) -> None:
    result = CliRunner().invoke(app, ["up", "--demo-tickers", size])
    assert result.exit_code == 2
    assert "--demo-tickers" in result.output
    assert not settings.dagster_home.exists()


def test_up_loads_the_demo_universe_at_the_size_asked(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to the services: here one stand-in that exits at once, so `up` stops after loading."""
    import sys

    from launcher import services as platform_services
    from launcher.supervise import Service

    stand_in = Service(
        "stand-in",
        [sys.executable, "-c", "raise SystemExit(3)"],
        "http://127.0.0.1:9/",
        settings.data_dir / "logs" / "stand-in.log",
    )
    monkeypatch.setattr(platform_services, "platform_services", lambda *_: [stand_in])
    monkeypatch.setenv("DEMO_YEARS", "1")
    result = CliRunner().invoke(app, ["up", "--demo-tickers", "12", "--skip-materialize"])
    assert "Loading the demo universe (12 tickers)" in result.output
    assert "... and 4 more tickers" in result.output
    assert "stand-in exited with code 3" in result.output and result.exit_code == 1
    symbols = {row["symbol"] for row in OperationalStore(settings.raw_db_url).list_tickers()}
    assert len(symbols) == 12 and {"SYN0001", "SYN0007"} <= symbols
