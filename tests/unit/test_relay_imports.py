"""The relay process stays small: it must not load pandas (or what loads it, such as the
warehouse or the anomaly detector). Those more than doubled its memory (issue 18); the
detector runs as a process of its own instead. Nor FastAPI, Starlette or uvicorn: the relay
serves on picows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("pandas", "numpy", "pyarrow", "chdb", "realtime.detector", "tickerpulse.stores.warehouse")
# Its server is picows (realtime/server.py): the API's web stack would be 8 MB of it at rest.
WEB_STACK = ("fastapi", "starlette", "uvicorn")


def test_the_relay_service_imports_no_pandas_nor_the_warehouse_nor_a_web_framework() -> None:
    probe = (
        "import json, sys; import realtime.service; "
        f"print(json.dumps([m for m in {list(HEAVY + WEB_STACK)!r} if m in sys.modules]))"
    )
    env = {**os.environ, "RAW_DB_URL": "", "WAREHOUSE_URL": ""}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
