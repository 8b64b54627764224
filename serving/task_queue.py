"""The Celery app the API enqueues training runs on, and the queue's depth for /metrics.

Built from Settings, so the API, the worker and tests agree on the broker: Redis in full mode,
SQLite through SQLAlchemy when embedded. Tasks are sent by name, so the API never imports
the worker's Dagster code.
"""

from __future__ import annotations

import time

from celery import Celery
from kombu.exceptions import ChannelError, OperationalError

from tickerpulse.errors import TaskQueueUnavailable
from tickerpulse.settings import Settings

TRAIN_TASK = "tickerpulse.train"
TRAINING_QUEUE = "training"


def make_celery(settings: Settings) -> Celery:
    app = Celery("tickerpulse", broker=settings.celery_broker_url)
    visibility = settings.celery_visibility_timeout_seconds
    app.conf.update(
        # A task is acknowledged when it ends, not when it starts: a worker killed mid-task
        # leaves it unacknowledged, and the broker hands it out again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=TRAINING_QUEUE,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2,
        # The API must answer quickly when the broker is down, not retry for seconds.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
    )
    if settings.celery_broker_url.startswith("redis"):
        app.conf.broker_transport_options = {
            # An unacknowledged task goes back to the queue after this long: longer than any
            # training; the database's heartbeat stops a second copy from training twice.
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1, min(10, int(visibility / 2))),
            "unacked_restore_throttle": 1,
            "socket_timeout": 2,
            "socket_connect_timeout": 2,
        }
    return app


def enqueue_training(app: Celery, run_id: str) -> None:
    try:
        app.send_task(TRAIN_TASK, args=[run_id], queue=TRAINING_QUEUE)
    except (OperationalError, OSError) as error:  # kombu's, once its bounded retries are spent
        raise TaskQueueUnavailable(
            f"the training queue is unreachable ({type(error).__name__}); "
            "nothing was queued, try again later"
        ) from error


class QueueDepth:
    """Messages waiting in the training queue, read at most every `max_age` seconds."""

    def __init__(self, app: Celery, max_age: float = 2.0) -> None:
        self.app = app
        self.max_age = max_age
        self._read_at = -max_age
        self._value: float = float("nan")

    def __call__(self) -> float:
        if time.monotonic() - self._read_at >= self.max_age:
            self._read_at = time.monotonic()
            try:
                with self.app.connection_for_read() as connection:
                    declared = connection.default_channel.queue_declare(
                        TRAINING_QUEUE, passive=True
                    )
                    self._value = float(declared.message_count)
            except ChannelError:  # no such queue: nothing was ever sent to it
                self._value = 0.0
            except Exception:  # the broker is down: unknown, which is not an error of ours
                self._value = float("nan")
        return self._value
