#!/usr/bin/env bash
# The Celery worker that carries out training runs, with the platform's settings from the
# environment (CELERY_BROKER_URL, TICKERPULSE_DATA_DIR, RAW_DB_URL, ... as for the API).
#   scripts/celery.sh start   start one worker on the `training` queue; waits until it is ready
#   scripts/celery.sh stop    warm shutdown: the running task finishes or goes back to the queue
#   scripts/celery.sh kill    SIGKILL, as a crashed machine would: tests use it
# Its log in var/services/celery/server.log (TP_CELERY_DIR).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${TP_CELERY_DIR:-$root/var/services/celery}
# shellcheck source=scripts/daemon.sh
. "$root/scripts/daemon.sh"
celery_bin=${TP_CELERY_BIN:-$root/.venv/bin/celery}

# The worker prints "celery@host ready." once it consumes; a fresh log per start.
worker_ready() { grep -q ' ready\.' "$state/server.log"; }

start() {
  mkdir -p "$state"
  pid=$(cat "$state/pid" 2>/dev/null || true)
  if ! daemon_alive "$pid" celery; then rm -f "$state/server.log"; fi
  cd "$root"
  start_daemon celery "$state" cmd:worker_ready 120 \
    "$celery_bin" -A serving.worker:celery_app worker -Q training --concurrency 1 \
    --hostname "training-$$@%h" --loglevel INFO --without-gossip --without-mingle
  echo "celery worker pid $(cat "$state/pid")"
}

case "${1:-start}" in
  start) start ;;
  stop) stop_daemon "$state" 60 ;;
  kill)
    pid=$(cat "$state/pid" 2>/dev/null || true)
    [ -n "$pid" ] && { kill -KILL -- -"$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; }
    rm -f "$state/pid" ;;
  *) echo "usage: $0 start|stop|kill" >&2; exit 2 ;;
esac
