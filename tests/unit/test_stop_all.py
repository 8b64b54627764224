"""`tickerpulse up` stops its processes together: every one is signalled before any is waited
for, and one that ignores its signal is killed at the deadline."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from launcher.supervise import Service, stop_all

# Writes when it was asked to stop, then takes a second to shut down, as dagster dev does.
SLOW_TO_STOP = """
import signal, sys, time
def stop(*_):
    with open(sys.argv[1], "a") as out:
        out.write(f"signalled {time.monotonic()}\\n")
    time.sleep(1)
    with open(sys.argv[1], "a") as out:
        out.write(f"exited {time.monotonic()}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""


def started(name: str, tmp_path: Path, code: str) -> Service:
    service = Service(
        name,
        [sys.executable, "-c", code, str(tmp_path / f"{name}.events")],
        "",
        tmp_path / f"{name}.log",
        ready_text="ready",
    )
    service.start({}, tmp_path)
    while not service.is_ready():
        assert service.exited() is None, (tmp_path / f"{name}.log").read_text()
        time.sleep(0.05)
    return service


def events(tmp_path: Path, kind: str) -> list[float]:
    found = []
    for path in tmp_path.glob("*.events"):
        for line in path.read_text().splitlines():
            what, when = line.split()
            if what == kind:
                found.append(float(when))
    return found


def test_every_service_is_signalled_before_any_has_exited(tmp_path: Path) -> None:
    services = [started(f"slow-{n}", tmp_path, SLOW_TO_STOP) for n in range(3)]
    stop_all(services, timeout=30)
    assert all(service.exited() == 0 for service in services)
    signalled, exited = events(tmp_path, "signalled"), events(tmp_path, "exited")
    assert len(signalled) == len(exited) == 3
    # One after another (the old loop), the second was signalled after the first had exited.
    assert max(signalled) < min(exited)


def test_a_service_that_ignores_its_signal_is_killed_at_the_deadline(tmp_path: Path) -> None:
    stubborn = started(
        "stubborn",
        tmp_path,
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True)\nwhile True: time.sleep(0.1)",
    )
    stop_all([stubborn], timeout=1)
    assert stubborn.exited() == -9  # SIGKILL
