"""Load for bench_serving: servers on free local ports, and wrk (scripts/wrk.sh) against them.

wrk's own `done` hook reports requests, duration, latency percentiles and errors as one line,
so nothing is parsed from its human-readable summary.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from launcher.supervise import Service, wait_until_ready

ROOT = Path(__file__).parents[1]
# Ports other engineers' services and tests hold on this machine: never ours, even by chance.
RESERVED_PORTS = {3000, 5000, 8000, 25432, 25500, 25900, 26379, 29092, 29093}
WRK_TIMEOUT = "30s"  # long enough that a slow answer is a latency, not a socket timeout

WRK_SCRIPT = """\
wrk.method = {method}
{headers}
local file = assert(io.open({body_path}, "rb"))
wrk.body = file:read("*a")
file:close()

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def free_port() -> int:
    """A port the kernel has just handed out on 127.0.0.1, outside the reserved ones."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def wrk_path() -> str:
    """wrk's path; scripts/wrk.sh installs the Debian package if it is missing."""
    done = subprocess.run(
        [str(ROOT / "scripts" / "wrk.sh"), "install"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/wrk.sh install failed:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def wrk_version(wrk: str) -> str:
    banner = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout
    return banner.split()[1] if banner else "?"


@dataclass(frozen=True)
class Load:
    """One request, sent again and again."""

    method: str
    url: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def check(self) -> None:
        """One request first, so a wrong key or URL stops the bench instead of timing errors."""
        request = urllib.request.Request(
            self.url, self.body or None, self.headers, method=self.method
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(
                f"{self.method} {self.url} answered {error.code}: {error.read()[:500]!r}"
            ) from None


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    http_errors: int  # responses with status >= 400, as wrk counts them
    socket_errors: int  # connect, read, write and timeout

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def run_wrk(
    wrk: str, load: Load, seconds: int, connections: int, threads: int, folder: Path
) -> Result:
    body_path, script_path = folder / "body", folder / "load.lua"
    body_path.write_bytes(load.body)
    # JSON string literals are valid Lua string literals for the ASCII text used here.
    headers = "\n".join(
        f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in load.headers.items()
    )
    script_path.write_text(
        WRK_SCRIPT.format(
            method=json.dumps(load.method), headers=headers, body_path=json.dumps(str(body_path))
        )
    )
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += ["--timeout", WRK_TIMEOUT, "-s", str(script_path), load.url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    lines = [line for line in done.stdout.splitlines() if line.startswith("WRK_RESULT")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    requests, micros, p50, p99, http_errors, socket_errors = map(int, lines[-1].split()[1:])
    return Result(requests, micros / 1e6, p50 / 1e3, p99 / 1e3, http_errors, socket_errors)


def log_tail(path: Path, lines: int = 30) -> str:
    """The end of a log that lives in a temporary folder, for an error message."""
    if not path.exists():
        return f"({path} is empty)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def serving(
    name: str,
    command: list[str],
    ready_url: str,
    env: dict[str, str],
    log_path: Path,
    workers: int,
    timeout: float = 180.0,
) -> Iterator[None]:
    """A server in its own process group, ready once every worker has started; always stopped."""
    service = Service(name, command, ready_url, log_path)
    try:
        service.start(env, ROOT)
        try:
            wait_until_ready([service], timeout, lambda _elapsed: None)
            # Readiness answers from the first worker; the others may still be importing.
            deadline = time.monotonic() + timeout
            while log_path.read_text(errors="replace").count("startup complete") < workers:
                if time.monotonic() > deadline or service.exited() is not None:
                    raise RuntimeError(f"{name}: not all {workers} workers started")
                time.sleep(0.5)
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{log_tail(log_path)}") from None
        yield
    finally:
        service.stop()
