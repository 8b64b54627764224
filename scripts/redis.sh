#!/usr/bin/env bash
# A private Redis for the integration tests and full mode, on 127.0.0.1 only, keeping nothing
# on disk (no RDB snapshots, no AOF).
#   scripts/redis.sh start   install (Debian package) if missing, start; prints the URL
#   scripts/redis.sh stop
#   scripts/redis.sh url
# Port 26379 (TP_REDIS_PORT); its folder and server.log in var/services/redis (TP_REDIS_DIR).
# Memory is capped at TP_REDIS_MAXMEMORY (256mb). maxmemory and its policy are per server, not
# per database, and Celery's broker shares the server: volatile-lru evicts only keys with a
# TTL (every cache entry and rate counter), never Celery's queued tasks, which have none.
# (allkeys-lru would evict those too; a full broker database refuses writes instead.)
set -euo pipefail
# shellcheck source=scripts/apt.sh
. "$(dirname "$0")/apt.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
port=${TP_REDIS_PORT:-26379}
state=${TP_REDIS_DIR:-$root/var/services/redis}
url="redis://127.0.0.1:$port/0"
# shellcheck source=scripts/daemon.sh
. "$root/scripts/daemon.sh"

install_if_missing() {
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    apt_install Redis redis-server
  fi
}

# Readiness for start_daemon: Redis speaks no HTTP.
redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; }

start() {
  install_if_missing
  start_daemon redis-server "$state" cmd:redis_ready 30 \
    redis-server --bind 127.0.0.1 --port "$port" --dir "$state" \
    --save '' --appendonly no --daemonize no --logfile '' \
    --maxmemory "${TP_REDIS_MAXMEMORY:-256mb}" --maxmemory-policy volatile-lru
  echo "$url"
}

stop() { stop_daemon "$state" 10; }

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  url) echo "$url" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
