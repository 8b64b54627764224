"""The long-running processes `tickerpulse up` starts, chosen by the settings.

Embedded (the in-process bus): Dagster, the MLflow UI, the API (which also relays the stream,
publishes metrics and answers prediction requests) and the training worker. Full (Kafka): the
relay, the metrics publisher and the prediction workers become processes of their own, as the
compose services are, and MLflow is the tracking server, so no UI of ours is started.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

from launcher.supervise import Service
from tickerpulse.settings import Settings

# For uvicorn when it serves /v1/stream (the API, embedded). Frames a client sends are small
# (realtime/stream.py refuses over 64 KiB): uvicorn need not buffer its default 16 MiB before
# the app can say so. Dead peers are found by WebSocket pings, as in compose. No
# permessage-deflate: its zlib state cost 34 KB for every open stream whose client offered it
# (browsers do), twice the rest of the connection, to compress frames of a few hundred bytes
# (issue 18; Centrifugo too leaves compression off unless asked).
STREAM_SERVER_FLAGS = (
    "--ws-max-size",
    "65536",
    "--ws-per-message-deflate",
    "false",
    "--ws-ping-interval",
    "10",
    "--ws-ping-timeout",
    "10",
)


def platform_services(settings: Settings, log_dir: Path) -> list[Service]:
    host = settings.api_host
    api = f"http://{host}:{settings.api_port}"
    python = sys.executable
    services = [
        Service(
            "Dagster UI",
            [
                "dagster",
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                host,
                "-p",
                str(settings.dagster_port),
            ],
            f"http://{host}:{settings.dagster_port}/server_info",
            log_dir / "dagster.log",
            port_setting="DAGSTER_PORT",
            stop_signal=signal.SIGINT,  # dagster dev shuts its daemon and code server down on SIGINT
        ),
        Service(
            "API",
            [
                "uvicorn",
                "serving.app:app",
                "--host",
                host,
                "--port",
                str(settings.api_port),
                # It serves /v1/stream only when the relay runs in it (embedded).
                *(STREAM_SERVER_FLAGS if settings.runs_realtime_in_api else ()),
            ],
            f"{api}/healthz",
            log_dir / "api.log",
            port_setting="API_PORT",
        ),
        Service(
            "training worker",
            [
                "celery",
                "-A",
                "serving.worker:celery_app",
                "worker",
                "-Q",
                "training",
                "--concurrency",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",  # also what prints "ready.", which tells us it consumes
            ],
            "",
            log_dir / "worker.log",
            ready_text=" ready.",
        ),
    ]
    if not settings.mlflow_tracking_uri.startswith("http"):
        # Embedded MLflow has no server of its own; this one is where Dagster's run links lead.
        services.append(
            Service(
                "MLflow UI",
                [
                    "mlflow",
                    "server",
                    "--backend-store-uri",
                    settings.mlflow_tracking_uri,
                    "--host",
                    host,
                    "--port",
                    str(settings.mlflow_ui_port),
                    "--workers",
                    "1",
                ],
                f"{settings.mlflow_ui_url}/health",
                log_dir / "mlflow.log",
                port_setting="MLFLOW_UI_PORT",
            )
        )
    if not settings.runs_realtime_in_api:
        services += [
            Service(
                "relay",
                relay_command(host, settings.relay_port, python),
                f"http://{host}:{settings.relay_port}/healthz",
                log_dir / "relay.log",
                port_setting="RELAY_PORT",
            ),
            Service(
                "metrics publisher",
                [python, "-m", "realtime.publisher", "--url", f"{api}/metrics"],
                "",
                log_dir / "publisher.log",
                ready_text="publishing ",
            ),
            # Its own process, not the relay's: it needs pandas and the warehouse.
            Service(
                "anomaly detector",
                [python, "-m", "realtime.detector"],
                "",
                log_dir / "detector.log",
                ready_text="detecting anomalies",
            ),
        ]
    if not settings.answers_prediction_requests:
        services += [
            Service(
                f"prediction worker {number}",
                [python, "-m", "serving.prediction_worker"],
                "",
                log_dir / f"prediction-worker-{number}.log",
                ready_text="answering ",
            )
            for number in range(1, settings.prediction_workers + 1)
        ]
    return services


def relay_command(host: str, port: int, python: str = sys.executable) -> list[str]:
    """The relay's process: /v1/stream on picows (realtime/server.py), not uvicorn."""
    return [python, "-m", "realtime.service", "--host", host, "--port", str(port)]


def ports_to_claim(services: list[Service]) -> list[tuple[int, str]]:
    """(port, the setting that moves it) for each port these services serve on."""
    return [
        (int(urlsplit(s.ready_url).port or 0), s.port_setting) for s in services if s.port_setting
    ]


def stream_url(settings: Settings) -> str:
    """Where a client subscribes to the live stream: the relay service, or the API's own."""
    if settings.stream_public_url:
        return settings.stream_public_url
    port = settings.api_port if settings.runs_realtime_in_api else settings.relay_port
    return f"ws://{settings.api_host}:{port}/v1/stream"
