"""Helpers that turn domain results into metadata a person reads in the Dagster UI."""

from __future__ import annotations

import pandas as pd


def markdown_table(frame: pd.DataFrame, limit: int = 20) -> str:
    shown = frame.head(limit)
    text = shown.to_markdown(index=False, floatfmt=".4g") if len(shown) else "_no rows_"
    if len(frame) > limit:
        text += f"\n\n_{len(frame) - limit} more rows not shown_"
    return text
