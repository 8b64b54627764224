"""make install leaves every package compiled: where PYTHONDONTWRITEBYTECODE=1 (our CI
machines) Python never caches what it compiles, and each of the suite's processes compiled
every module it imported (4 s of CPU for these four alone)."""

import importlib
import importlib.util
from pathlib import Path

import pytest


@pytest.mark.parametrize("package", ["dagster", "mlflow", "pandas", "sklearn"])
def test_the_heavy_packages_import_from_compiled_bytecode(package: str) -> None:
    source = importlib.import_module(package).__file__
    assert source is not None
    # Python's own name for the module's cached bytecode (PEP 3147), beside its source.
    assert Path(importlib.util.cache_from_source(source)).is_file(), f"{package} has no .pyc"
