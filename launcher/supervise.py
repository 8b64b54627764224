"""Start and stop the platform's processes for `tickerpulse up`, leaving no orphans.

Each child runs in its own session so a terminal's Ctrl-C reaches only us; we then stop
each child's whole process group (dagster dev has its own children), politely first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Service:
    name: str
    command: list[str]
    ready_url: str
    log_path: Path
    stop_signal: int = signal.SIGTERM
    # For a process with no HTTP (the Celery worker): ready once its log shows this text.
    ready_text: str = ""
    # The setting that moves the port it serves on (ready_url's), named when the port is taken.
    port_setting: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _log_start: int = field(default=0, repr=False)

    def start(self, env: dict[str, str], cwd: Path) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._log_start = log.tell()
        self.process = subprocess.Popen(
            self.command,
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def is_ready(self) -> bool:
        if self.ready_text:
            with self.log_path.open("rb") as log:
                log.seek(self._log_start)
                return self.ready_text.encode() in log.read()
        try:
            with urllib.request.urlopen(self.ready_url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 20.0) -> None:
        stop_all([self], timeout)

    def _signal_stop(self) -> int | None:
        """Send the stop signal to the process group; the group, or None if nothing runs."""
        if self.process is None or self.process.poll() is not None:
            return None
        group = os.getpgid(self.process.pid)
        os.killpg(group, self.stop_signal)
        return group


def stop_all(services: list[Service], timeout: float = 20.0) -> None:
    """Stop every service at once: each is signalled before any is waited for, so stopping
    takes as long as the slowest (dagster dev, a Celery worker finishing its task), not the sum.
    A group still running at the shared deadline is killed."""
    signalled = [(service, service._signal_stop()) for service in services]
    deadline = time.monotonic() + timeout
    for service, group in signalled:
        if group is None or service.process is None:
            continue
        try:
            service.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            service.process.wait()
        # Grandchildren that outlived their parent are still in the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def _default_signals() -> None:
    """A shell starts background jobs with SIGINT ignored, and children inherit that: the
    stop signal must reach them whatever way `up` was started."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def wait_until_ready(
    services: list[Service], timeout: float, tick: Callable[[float], None]
) -> None:
    started = time.monotonic()
    pending = list(services)
    while pending:
        elapsed = time.monotonic() - started
        for service in list(pending):
            code = service.exited()
            if code is not None:
                raise RuntimeError(
                    f"{service.name} exited with code {code}; see {service.log_path}"
                )
            if service.is_ready():
                pending.remove(service)
        if pending and elapsed > timeout:
            names = ", ".join(s.name for s in pending)
            raise RuntimeError(
                f"{names} did not answer within {timeout:.0f} s; see the logs in var/logs"
            )
        tick(elapsed)
        time.sleep(0.5)


def stream_lines(
    command: list[str], env: dict[str, str], cwd: Path, log_path: Path
) -> Iterator[str]:
    """Run a command to completion, yielding its output lines and keeping them in a log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=_default_signals,
        ) as process,
    ):
        try:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                yield line.rstrip("\n")
        except BaseException:
            os.killpg(process.pid, signal.SIGTERM)
            raise
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command)
