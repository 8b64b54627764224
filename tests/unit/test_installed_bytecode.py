"""make install leaves every package compiled: where PYTHONDONTWRITEBYTECODE=1 (our CI
machines) Python never caches what it compiles, and each of the suite's processes compiled
every module it imported (4 s of CPU for these four alone)."""

import importlib.util
from pathlib import Path

import pytest


@pytest.mark.parametrize("package", ["dagster", "mlflow", "pandas", "sklearn"])
def test_every_module_of_the_heavy_packages_has_compiled_bytecode(package: str) -> None:
    # Found without importing it, and every module checked, not only those a process imports
    # (which Python compiles and, where it may, caches itself).
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    modules = sorted(Path(spec.submodule_search_locations[0]).rglob("*.py"))
    assert len(modules) > 500  # the package, not an empty folder
    uncompiled = [
        str(module)
        for module in modules
        if not Path(importlib.util.cache_from_source(str(module))).is_file()
    ]
    assert uncompiled == [], f"{len(uncompiled)} of {len(modules)} have no .pyc: {uncompiled[:5]}"
