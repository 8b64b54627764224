"""Benchmarks: each module bench_*.py has run() -> (title, rows); every row names its peer."""
