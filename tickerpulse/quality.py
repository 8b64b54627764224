"""OHLCV rules. Every input row ends up either valid or rejected with a reason: none vanish."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tickerpulse.calendar import trading_days
from tickerpulse.features import ByTicker

NUMERIC = ["open", "high", "low", "close", "volume"]
VALID_COLUMNS = ["date", "open", "high", "low", "close", "volume", "adj_close"]


@dataclass
class ValidationResult:
    valid: pd.DataFrame  # VALID_COLUMNS, typed, sorted by date, one row per date
    rejected: pd.DataFrame  # row_number, raw, reason
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def summary(self) -> str:
        if not self.reasons:
            return "none rejected"
        return "; ".join(f"{count} {reason}" for reason, count in self.reasons.most_common())


def _raw_text(row: pd.Series) -> str:
    values = {k: (None if pd.isna(v) else str(v)) for k, v in row.items() if k != "parse_error"}
    return json.dumps(values)


def validate_prices(
    frame: pd.DataFrame, by_ticker: bool = False, date_objects: bool = True
) -> ValidationResult:
    """Type, check and de-duplicate delivered rows; `frame` may hold text as read from a file.

    With `by_ticker`, `frame` is many tickers' rows (a `ticker` column): one date per ticker,
    and the valid rows keep their ticker, sorted by ticker and date. One pass over a whole
    universe costs far less than a pass per ticker (pandas' fixed cost per operation).
    With `date_objects=False` the valid dates stay datetime64 (a universe on its way to
    Arrow: 2.5 M date objects cost more than the rest of validating them)."""
    # Rows are addressed by position. A frame already indexed 0..n-1 (a universe read from
    # the operational store) is used as it is: copying it cost 1.3 s of cleaning 2.5 M rows.
    if not frame.index.equals(pd.RangeIndex(len(frame))):
        frame = frame.reset_index(drop=True)
    numbered = "row_number" in frame
    # Each row's first broken rule as a code into `texts` (0: none yet). Rules are numpy masks
    # over the whole frame: a rule per row in Python, or an object Series of reasons updated
    # per rule, cost more than the checks (cProfile: 40 % of a history load).
    texts: list[str] = [""]
    code = np.zeros(len(frame), dtype=np.int32)
    parse_errors = None
    if "parse_error" in frame:
        parse_errors = frame["parse_error"].to_numpy(dtype=object)
        code[pd.notna(parse_errors)] = -1  # the row's own text, set below

    def flag(mask: pd.Series | np.ndarray, text: str) -> None:
        hit = np.asarray(mask, dtype=bool) & (code == 0)
        if hit.any():  # most rules break on no row: skip the write
            texts.append(text)
            code[hit] = len(texts) - 1

    dates = _as_datetimes(frame["date"])
    flag(dates.isna().to_numpy(), "unreadable date")
    # The typed columns as numpy arrays: pandas' fixed cost per operation is most of a
    # ticker's validation (5,000 rows), and the frame is built once, from the valid rows.
    typed: dict[str, np.ndarray] = {}
    for column in [*NUMERIC, "adj_close"]:
        raw = frame[column] if column in frame else pd.Series(np.nan, index=frame.index)
        if raw.dtype.kind != "f":  # text from a file; a fetched frame is floats already
            raw = pd.to_numeric(raw, errors="coerce")
        typed[column] = raw.to_numpy(dtype=float)
    for column in NUMERIC:
        flag(~np.isfinite(typed[column]), f"missing or non-numeric {column}")
    for text, broken in _broken_rules(typed).items():
        flag(broken, text)
    flag(typed["adj_close"] <= 0, "adjusted close <= 0")

    # Later rows correct earlier ones (a vendor's re-sent day): keep the last of each date.
    keys = ["ticker", "date"] if by_ticker else ["date"]
    key_frame = pd.DataFrame(
        {"ticker": frame["ticker"], "date": dates} if by_ticker else {"date": dates}
    )
    duplicate = key_frame.duplicated(keep="last").to_numpy() & dates.notna().to_numpy()
    flag(duplicate, "duplicate date (a later row for the same day was kept)")
    ok = code == 0

    columns = ["ticker", *VALID_COLUMNS] if by_ticker else VALID_COLUMNS
    valid = key_frame[ok].reset_index(drop=True)
    for column in ("open", "high", "low", "close", "volume", "adj_close"):
        valid[column] = typed[column][ok]
    # A stable sort, skipped when the rows are in order already (a universe read from the
    # operational store is, and sorting its tickers' text is the dearest step left).
    if not _in_order(valid, by_ticker):
        valid = valid.sort_values(keys, kind="stable").reset_index(drop=True)
    valid = valid[columns]
    if date_objects:
        valid["date"] = valid["date"].dt.date
    bad = frame[~ok]
    if not numbered:  # rows are numbered from 1 in the order they came (kept in `raw`)
        bad = bad.assign(row_number=np.flatnonzero(~ok) + 1)
    reason = np.asarray(texts, dtype=object)[np.maximum(code[~ok], 0)]
    if parse_errors is not None:
        own = code[~ok] == -1
        reason[own] = parse_errors[~ok][own]
    rejected = pd.DataFrame(
        {
            "row_number": bad["row_number"].astype(int).to_numpy(),
            "raw": bad.apply(_raw_text, axis=1).to_numpy() if len(bad) else np.array([], object),
            "reason": reason,
        }
    )
    return ValidationResult(valid, rejected, Counter(rejected["reason"]))


def _as_datetimes(values: pd.Series) -> pd.Series:
    """Dates as datetime64 (NaT where unreadable). Dates already typed (a fetched frame, the
    operational store's read) skip the parser that text from a file needs."""
    if values.dtype.kind == "M":
        return values.dt.tz_localize(None) if values.dt.tz is not None else values
    if pd.api.types.infer_dtype(values, skipna=True) == "date":
        # Every value a date object (or missing): converted in C, 3x quicker than "mixed",
        # which would guess a format for each value.
        return pd.to_datetime(values, errors="coerce")
    return pd.to_datetime(values, errors="coerce", format="mixed")


def _in_order(valid: pd.DataFrame, by_ticker: bool) -> bool:
    """Whether the rows are sorted by (ticker,) date, no two alike (the sort would keep them)."""
    days = valid["date"].to_numpy()
    if not by_ticker:
        return bool((days[1:] > days[:-1]).all())
    tickers = valid["ticker"]
    names: np.ndarray
    if (
        isinstance(tickers.dtype, pd.CategoricalDtype)
        and tickers.cat.categories.is_monotonic_increasing
    ):
        names = tickers.cat.codes.to_numpy()  # codes in the names' order: compare integers
    else:
        names = tickers.astype(object).to_numpy()
    same = names[1:] == names[:-1]
    return bool(((names[1:] > names[:-1]) | (same & (days[1:] > days[:-1]))).all())


def ohlc_rules(prices: pd.DataFrame) -> dict[str, pd.Series]:
    """Each OHLCV consistency rule as the mask of rows breaking it, keyed by its reason."""
    columns = {name: prices[name].to_numpy(dtype=float) for name in NUMERIC}
    return {
        text: pd.Series(broken, index=prices.index)
        for text, broken in _broken_rules(columns).items()
    }


def _broken_rules(prices: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """ohlc_rules on numpy columns (a missing value breaks no rule here, as in pandas)."""
    open_, high, low, close = (prices[name] for name in ("open", "high", "low", "close"))
    with np.errstate(invalid="ignore"):
        return {
            "price <= 0": (open_ <= 0) | (high <= 0) | (low <= 0) | (close <= 0),
            "negative volume": prices["volume"] < 0,
            # fmin/fmax skip a missing value as min(axis=1) does.
            "low above open or close": low > np.fmin(open_, close),
            "high below open or close": high < np.fmax(open_, close),
        }


def ohlc_violations(prices: pd.DataFrame) -> pd.DataFrame:
    """Rows of a typed price frame that break any OHLC rule (what the asset check reports)."""
    broken = pd.concat(ohlc_rules(prices), axis=1).any(axis=1)
    return prices[broken]


def missing_sessions(dates: pd.Series, exchange: str = "XNYS") -> list[dt.date]:
    """Trading days between the first and last date that have no row."""
    if dates.empty:
        return []
    present = set(pd.to_datetime(dates).dt.date)
    expected = trading_days(min(present), max(present), exchange)
    return [day for day in expected if day not in present]


def calendar_gaps(prices: pd.DataFrame, exchange: str = "XNYS") -> pd.DataFrame:
    """Per ticker of a (ticker, date) frame: trading days between its first and last date that
    have no row, and the first of them; missing_sessions for every ticker from one calendar
    lookup (a lookup per ticker cost 8 s at 500 tickers)."""
    columns = ["ticker", "missing_days", "first_missing"]
    if prices.empty:
        return pd.DataFrame(columns=columns)
    stamps = pd.to_datetime(prices["date"]).to_numpy(dtype="datetime64[D]")
    sessions = np.array(
        trading_days(stamps.min().item(), stamps.max().item(), exchange), dtype="datetime64[D]"
    )
    codes, tickers = pd.factorize(prices["ticker"], sort=True)
    position = np.searchsorted(sessions, stamps)
    is_session = (position < len(sessions)) & (
        sessions[np.minimum(position, len(sessions) - 1)] == stamps
    )
    # Each (ticker, session) once, however many rows it has: duplicates are another check's.
    present = np.sort(codes[is_session].astype(np.int64) * len(sessions) + position[is_session])
    present = present[np.r_[True, present[1:] != present[:-1]]]  # np.unique hashed: 8 s here
    held = np.bincount(present // len(sessions), minlength=len(tickers))
    first = np.full(len(tickers), len(sessions))
    last = np.full(len(tickers), -1)
    np.minimum.at(first, codes, position)
    np.maximum.at(last, codes, np.where(is_session, position, position - 1))
    missing = np.maximum(last - first + 1, 0) - held
    # The first missing session: where a ticker's k-th present session is not first + k, or
    # the one after its run when the run is unbroken (its last row fell on no session).
    owner = present // len(sessions)
    rank = np.arange(len(present)) - np.searchsorted(owner, owner)
    expected = first[owner] + rank
    broken = (present % len(sessions)) != expected
    first_gap = first + held
    breaks = np.flatnonzero(broken)
    if len(breaks):
        _, first_break = np.unique(owner[breaks], return_index=True)
        first_gap[owner[breaks][first_break]] = expected[breaks][first_break]
    session_dates = [day.item() for day in sessions]
    first_missing = [
        session_dates[gap] if count > 0 else None
        for gap, count in zip(first_gap, missing, strict=True)
    ]
    return pd.DataFrame(
        {"ticker": tickers.astype(str), "missing_days": missing, "first_missing": first_missing},
        columns=columns,
    )


# Common split ratios (new shares per old share); a reverse split 1:10 is 0.1.
SPLIT_RATIOS = (2.0, 3.0, 4.0, 5.0, 1.5, 10.0, 0.5, 1 / 3, 0.25, 0.2, 0.1)
_SPLIT_TOLERANCE = 0.03  # in log terms: a 2:1 split shows as a close ratio within 3 % of 2


def return_outliers(prices: pd.DataFrame, k: float = 8.0, window: int = 60) -> pd.DataFrame:
    """Days whose log return exceeds k robust sigmas of the ticker's previous `window` days.

    Sigma is 1.4826 x the median absolute return of the days before (never the day itself),
    so one crash cannot hide inside its own estimate. Outliers are flagged, never dropped.
    """
    panel = prices.sort_values(["ticker", "date"]).reset_index(drop=True)
    # Every ticker in one pass of pandas' rolling median (features.ByTicker), not a Python
    # call per ticker: 13 s -> about 1 s at 500 tickers x 20 years.
    by = ByTicker(panel["ticker"])
    log_close = np.log(panel["close"].to_numpy(dtype=float))
    returns = log_close - by.shift(log_close)
    sigma = by.rolling(by.shift(np.abs(returns)), window, "median", min_periods=20) * 1.4826
    with np.errstate(invalid="ignore", divide="ignore"):
        z = returns / sigma
    flagged = panel.assign(log_return=returns, sigma=sigma, z=z)[np.abs(z) > k]
    return flagged[["ticker", "date", "close", "log_return", "sigma", "z"]].reset_index(drop=True)


def split_candidates(prices: pd.DataFrame) -> pd.DataFrame:
    """Overnight jumps that match a split ratio (2:1, 3:1, 1:10, ...), for a person to confirm.

    The previous close over today's open is compared with each ratio: a split moves the
    price at the open, and by exactly the ratio.
    """
    panel = prices.sort_values(["ticker", "date"]).reset_index(drop=True)
    previous_close = panel.groupby("ticker", sort=False)["close"].shift(1)
    jump = pd.Series(np.log(previous_close / panel["open"]), index=panel.index)
    ratios = np.log(np.array(SPLIT_RATIOS))
    distance = np.abs(jump.to_numpy()[:, None] - ratios[None, :])
    nearest = distance.argmin(axis=1)
    matched = distance[np.arange(len(panel)), nearest] < _SPLIT_TOLERANCE
    found = panel.assign(
        previous_close=previous_close,
        ratio=np.array(SPLIT_RATIOS)[nearest],
    )[matched & jump.notna().to_numpy()]
    found = found.assign(split=found["ratio"].map(_ratio_label))
    return found[["ticker", "date", "previous_close", "open", "split"]].reset_index(drop=True)


def _ratio_label(ratio: float) -> str:
    if ratio >= 1:
        return f"{ratio:g}:1" if ratio == int(ratio) else f"{int(ratio * 2)}:2"
    return f"1:{round(1 / ratio):d}"


def stale_tickers(last_dates: dict[str, dt.date], expected: dt.date) -> dict[str, dt.date]:
    """Tickers whose newest bar is older than the last completed session."""
    return {ticker: day for ticker, day in sorted(last_dates.items()) if day < expected}


def schema_problems(frame: pd.DataFrame, expected: list[str]) -> list[str]:
    """What is wrong with a stored price table's shape: missing columns, wrong types."""
    problems = [f"missing column {name}" for name in expected if name not in frame.columns]
    for name in set(expected) & set(frame.columns) - {"ticker", "date"}:
        if not pd.api.types.is_float_dtype(frame[name]):
            problems.append(f"{name} is {frame[name].dtype}, not a float")
    if (
        "date" in frame
        and len(frame)
        and frame["date"].dtype.kind != "M"  # datetime64: dates as the warehouse stores them
        and not all(isinstance(d, dt.date) for d in frame["date"].head(100))
    ):
        problems.append("date does not hold dates")
    return problems
