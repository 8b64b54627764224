"""The layering the design draws, read from the source: the domain starts and signals no
process, and the thin apps import one another only where the design says."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
# What starting, stopping or signalling a process takes in Python.
PROCESS_MODULES = {"subprocess", "signal", "multiprocessing", "concurrent.futures.process"}
PROCESS_CALLS = {
    "os.kill",
    "os.killpg",
    "os.fork",
    "os.system",
    "os.spawnv",
    "os.execv",
    "os.popen",
}


def imports_and_calls(path: Path) -> tuple[set[str], set[str]]:
    tree = ast.parse(path.read_text(), str(path))
    imported: set[str] = set()
    called: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            called.add(f"{node.value.id}.{node.attr}")
    return imported, called


def package_modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_the_domain_neither_starts_nor_signals_a_process() -> None:
    offenders = {}
    for path in package_modules("tickerpulse"):
        imported, called = imports_and_calls(path)
        found = (imported & PROCESS_MODULES) | (called & PROCESS_CALLS)
        if found:
            offenders[str(path.relative_to(ROOT))] = sorted(found)
    assert offenders == {}


def test_the_domain_imports_no_app() -> None:
    apps = {"orchestration", "serving", "realtime", "launcher", "runtime", "dagster", "fastapi"}
    offenders = {}
    for path in package_modules("tickerpulse"):
        found = {m for m in imports_and_calls(path)[0] if m.split(".")[0] in apps}
        if found:
            offenders[str(path.relative_to(ROOT))] = sorted(found)
    assert offenders == {}


def test_realtime_and_orchestration_import_no_other_app() -> None:
    # serving mounts the relay's stream when embedded (the design's one exception).
    allowed = {"realtime": {"runtime"}, "orchestration": set()}
    offenders = {}
    for package, may in allowed.items():
        others = {"orchestration", "serving", "realtime", "launcher", "runtime"} - {package} - may
        for path in package_modules(package):
            found = {m for m in imports_and_calls(path)[0] if m.split(".")[0] in others}
            if found:
                offenders[str(path.relative_to(ROOT))] = sorted(found)
    assert offenders == {}
