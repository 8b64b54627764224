"""Feature computation in a fresh process on one core: the warehouse query, then every feature.

python -m bench.features_worker WAREHOUSE_FOLDER  ->  one JSON line of figures
"""

from __future__ import annotations

import os

# One core, no helper threads: the figure is comparable with Qlib's "1 CPU".
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.ingest_worker import peak_mib  # noqa: E402
from tickerpulse.features import FEATURES, compute_features  # noqa: E402
from tickerpulse.stores.warehouse import ParquetWarehouse  # noqa: E402


def main(folder: Path) -> dict[str, float]:
    started = time.perf_counter()
    prices = ParquetWarehouse(folder).read("clean_prices")
    queried = time.perf_counter()
    features = compute_features(prices)
    done = time.perf_counter()
    return {
        "rows": len(features),
        "features": len(FEATURES),
        "query_s": queried - started,
        "features_s": done - queried,
        "total_s": done - started,
        "cpus": len(os.sched_getaffinity(0)),
        "peak_mib": peak_mib(),
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
