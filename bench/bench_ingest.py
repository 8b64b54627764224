"""Ingest and clean a universe of synthetic prices, source to warehouse, on each raw backend.

Each case runs in its own process (peak RSS is per case). Peer in the same run: pandas
`DataFrame.to_sql` appending the same rows with no validation and no upsert.
Size: BENCH_TICKERS x BENCH_YEARS (default 500 x 20, about 2.5 M rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).parents[1]


def _postgres_database() -> str:
    server = subprocess.run(
        [str(ROOT / "scripts" / "postgres.sh"), "start"], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server.rsplit("/", 1)[0] + f"/{name}"


def _case(url: str, tickers: int, years: int, peer: bool) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.ingest_worker", url, str(tickers), str(years)]
    out = subprocess.run(
        [*command, *(["peer"] if peer else [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run() -> tuple[str, list[dict[str, object]]]:
    tickers = int(os.environ.get("BENCH_TICKERS", 500))
    years = int(os.environ.get("BENCH_YEARS", 20))
    rows_table = []
    with tempfile.TemporaryDirectory() as folder:
        backends = {
            "SQLite (embedded)": f"sqlite:///{folder}/raw.db",
            "PostgreSQL": _postgres_database(),
        }
        for label, url in backends.items():
            ours = _case(url, tickers, years, peer=False)
            rows = ours["rows"]
            rows_table.append(
                {
                    "operational store": label,
                    "validate+upsert rows/s": f"{rows / ours['load_s']:,.0f}",
                    "clean->Parquet rows/s": f"{rows / ours['clean_s']:,.0f}",
                    "end to end rows/s": f"{rows / (ours['load_s'] + ours['clean_s']):,.0f}",
                    "peak MiB": f"{ours['peak_mib']:.0f}",
                }
            )
            peer = _case(url.replace("raw.db", "peer.db"), tickers, years, peer=True)
            rows_table.append(
                {
                    "operational store": f"{label}, peer: pandas to_sql append",
                    "validate+upsert rows/s": f"{rows / peer['load_s']:,.0f}",
                    "clean->Parquet rows/s": "-",
                    "end to end rows/s": "-",
                    "peak MiB": f"{peer['peak_mib']:.0f}",
                }
            )
    title = f"Ingestion: {tickers} tickers x {years} years of synthetic prices ({rows:,.0f} rows)"
    return title, rows_table
