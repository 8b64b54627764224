"""Price sources. Network sources replay recorded answers through httpx.MockTransport."""

import datetime as dt
import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import FIXTURES
from tickerpulse.calendar import trading_days
from tickerpulse.errors import SchemaError, SourceError
from tickerpulse.quality import validate_prices
from tickerpulse.sources import get_source
from tickerpulse.sources.csv_file import CsvSource, parse_price_csv
from tickerpulse.sources.stooq import StooqSource, stooq_symbol
from tickerpulse.sources.synthetic import SyntheticSource
from tickerpulse.sources.yahoo import YahooSource

RECORDED = FIXTURES / "recorded"
DEMO_GOOG = Path(__file__).parents[2] / "tickerpulse" / "data" / "demo" / "GOOG.csv"
WINDOW = (dt.date(2013, 2, 25), dt.date(2013, 3, 1))


class TestSynthetic:
    def test_same_seed_same_prices_other_ticker_other_prices(self) -> None:
        start, end = dt.date(2020, 1, 1), dt.date(2020, 12, 31)
        first = SyntheticSource(seed=3).fetch("ACME", start, end)
        again = SyntheticSource(seed=3).fetch("ACME", start, end)
        other = SyntheticSource(seed=3).fetch("GLOBEX", start, end)
        assert first.equals(again)
        assert not np.allclose(first["close"], other["close"])

    def test_bars_are_consistent_and_on_trading_days(self) -> None:
        start, end = dt.date(2015, 1, 1), dt.date(2024, 12, 31)
        bars = SyntheticSource().fetch("ACME", start, end)
        assert list(bars["date"]) == trading_days(start, end)
        assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
        assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
        assert (bars[["open", "high", "low", "close"]] > 0).all().all()
        assert (bars["volume"] > 0).all()
        assert validate_prices(bars).rejected.empty

    def test_returns_have_fat_tails_and_volatility_clusters(self) -> None:
        bars = SyntheticSource().fetch("ACME", dt.date(2005, 1, 1), dt.date(2024, 12, 31))
        returns = np.log(bars["close"]).diff().dropna()
        assert returns.kurt() > 3  # excess kurtosis: a normal distribution has 0
        assert returns.abs().autocorr(1) > 0.1  # big moves follow big moves
        assert abs(returns.autocorr(1)) < 0.1  # but the direction is not predictable
        assert 0.005 < returns.std() < 0.03  # daily volatility of a stock

    def test_a_window_is_a_slice_of_one_history(self) -> None:
        source = SyntheticSource()
        long = source.fetch("ACME", dt.date(2020, 1, 1), dt.date(2020, 12, 31))
        short = source.fetch("ACME", dt.date(2020, 6, 1), dt.date(2020, 6, 30))
        joined = long.set_index("date").loc[short["date"], "close"].to_numpy()
        assert np.allclose(joined, short["close"])


class TestCsv:
    def test_the_real_fixture_parses_without_rejections(self) -> None:
        frame = CsvSource(DEMO_GOOG).fetch("GOOG", dt.date.min, dt.date.max)
        result = validate_prices(frame)
        assert len(result.valid) == len(frame) == 2148
        assert result.valid["date"].is_monotonic_increasing

    def test_a_dirty_file_keeps_every_good_row_and_explains_every_bad_one(self) -> None:
        frame = CsvSource(FIXTURES / "dirty.csv").fetch("DIRTY", dt.date.min, dt.date.max)
        result = validate_prices(frame)
        assert len(result.valid) + len(result.rejected) == len(frame) == 11
        assert [str(d) for d in result.valid["date"]] == [
            "2024-01-02",
            "2024-01-03",
            "2024-01-04",
            "2024-01-10",
        ]  # sorted, the later 2024-01-03 row kept, zero volume allowed
        assert result.valid.set_index("date")["close"].loc[dt.date(2024, 1, 3)] == 10.6
        assert dict(result.reasons) == {
            "duplicate date (a later row for the same day was kept)": 1,
            "missing or non-numeric close": 1,
            "price <= 0": 1,
            "high below open or close": 1,
            "unreadable date": 1,
            "negative volume": 1,
            "expected 8 fields, found 4": 1,
        }
        assert sorted(result.rejected["row_number"]) == [2, 6, 7, 8, 11, 12, 13]

    def test_a_file_without_the_required_columns_is_refused_whole(self) -> None:
        with pytest.raises(SchemaError, match=r"lacks column.*close, volume"):
            parse_price_csv("Date,Open,High,Low\n2024-01-02,1,2,0.5\n", origin="bad.csv")
        with pytest.raises(SchemaError, match="empty"):
            parse_price_csv("\n\n", origin="empty.csv")

    def test_a_missing_file_is_a_source_error(self, tmp_path: Path) -> None:
        with pytest.raises(SourceError, match="cannot read"):
            CsvSource(tmp_path / "nope.csv").fetch("X", dt.date.min, dt.date.max)


def replay(answers: list[httpx.Response], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return httpx.MockTransport(handler)


class TestStooq:
    def test_recorded_answer_becomes_valid_bars(self) -> None:
        seen: list[httpx.Request] = []
        body = (RECORDED / "stooq_goog_us.csv").read_text()
        source = StooqSource(transport=replay([httpx.Response(200, text=body)], seen))
        result = validate_prices(source.fetch("GOOG", *WINDOW))
        assert len(result.valid) == 5 and result.rejected.empty
        assert result.valid["close"].iloc[-1] == 806.19
        assert seen[0].url.params["s"] == "goog.us"
        assert seen[0].url.params["d1"] == "20130225" and seen[0].url.params["d2"] == "20130301"

    def test_unknown_symbol_is_a_clear_error(self) -> None:
        body = (RECORDED / "stooq_no_data.txt").read_text()
        source = StooqSource(transport=replay([httpx.Response(200, text=body)], []))
        with pytest.raises(SourceError, match="no prices for NOPE: No data"):
            source.fetch("NOPE", *WINDOW)

    def test_transient_failures_are_retried(self) -> None:
        seen: list[httpx.Request] = []
        body = (RECORDED / "stooq_goog_us.csv").read_text()
        answers = [httpx.Response(503), httpx.Response(200, text=body)]
        source = StooqSource(transport=replay(answers, seen))
        assert len(source.fetch("GOOG", *WINDOW)) == 5
        assert len(seen) == 2

    def test_symbols_map_to_stooq_names(self) -> None:
        assert stooq_symbol("AAPL") == "aapl.us"
        assert stooq_symbol("^SPX") == "^spx"
        assert stooq_symbol("VOD.UK") == "vod.uk"


class TestYahoo:
    def test_recorded_chart_becomes_bars_with_local_dates(self) -> None:
        seen: list[httpx.Request] = []
        chart = json.loads((RECORDED / "yahoo_chart_goog.json").read_text())
        source = YahooSource(transport=replay([httpx.Response(200, json=chart)], seen))
        frame = source.fetch("GOOG", *WINDOW)
        assert [str(d) for d in frame["date"]] == [
            "2013-02-25",
            "2013-02-26",
            "2013-02-27",
            "2013-02-28",
            "2013-03-01",
        ]
        result = validate_prices(frame)
        # Yahoo's null close is quarantined, not silently dropped or filled.
        assert len(result.valid) == 4
        assert list(result.rejected["reason"]) == ["missing or non-numeric close"]
        assert result.valid["adj_close"].iloc[-1] == pytest.approx(806.19 / 2)
        assert seen[0].url.path == "/v8/finance/chart/GOOG"

    def test_unknown_symbol_is_a_clear_error(self) -> None:
        answer = json.loads((RECORDED / "yahoo_not_found.json").read_text())
        source = YahooSource(transport=replay([httpx.Response(404, json=answer)], []))
        with pytest.raises(SourceError, match="symbol may be delisted"):
            source.fetch("NOPE", *WINDOW)

    def test_a_broken_connection_is_a_source_error(self) -> None:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

        source = YahooSource(transport=httpx.MockTransport(refuse))
        with pytest.raises(SourceError, match="could not reach yahoo"):
            source.fetch("GOOG", *WINDOW)


def test_unknown_source_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="synthetic, csv, stooq, yahoo"):
        get_source("bloomberg")
