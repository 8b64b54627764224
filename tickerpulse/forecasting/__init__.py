"""Forecasting: baselines and estimators, walk-forward evaluation, conformal intervals, promotion."""
