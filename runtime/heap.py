"""The garbage collector's full passes kept short in a long-running server.

A full (generation 2) collection walks every object the collector tracks. The API holds
several hundred thousand of them once pandas, scikit-learn and MLflow are imported and a
champion is loaded, and under load a full pass came every few seconds and took 0.4-0.5 s on
this machine, the whole event loop stopped: that was the p99 of POST /v1/predictions
(docs/benchmarks.md). What lives as long as the process (modules, settings, stores, loaded
models) is moved out of the collector's reach once it exists (gc.freeze), so a full pass
walks only what was made since.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Call once the process has built what it keeps (before serving): garbage is collected
    first, since frozen objects are never collected."""
    gc.collect()
    gc.freeze()


def freeze_loaded() -> None:
    """Call after loading something kept for long (a model): no collection here, which would
    stop the process for the very pass this avoids; garbage frozen with it is a one-off."""
    gc.freeze()
