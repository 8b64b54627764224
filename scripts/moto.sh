#!/usr/bin/env bash
# moto_server: a real S3 HTTP endpoint on 127.0.0.1, standing in for MinIO in the tests
# (no MinIO can be installed from the package registries here).
#   scripts/moto.sh start   prints the endpoint URL once it answers
#   scripts/moto.sh stop
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
port=${TP_S3_PORT:-55900}
state=${TP_S3_DIR:-$root/var/services/moto}
url="http://127.0.0.1:$port"
bin="$root/.venv/bin/moto_server"

start() {
  mkdir -p "$state"
  if ! curl -sf "$url/moto-api/" >/dev/null 2>&1; then
    [ -x "$bin" ] || { echo "moto_server is missing: run 'make install'" >&2; exit 1; }
    setsid "$bin" -H 127.0.0.1 -p "$port" >"$state/server.log" 2>&1 < /dev/null &
    echo $! >"$state/pid"
    for _ in $(seq 1 60); do
      curl -sf "$url/moto-api/" >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  curl -sf "$url/moto-api/" >/dev/null || { echo "moto_server did not answer; see $state/server.log" >&2; exit 1; }
  echo "$url"
}

stop() {
  if [ -f "$state/pid" ]; then
    kill "$(cat "$state/pid")" 2>/dev/null || true
    rm -f "$state/pid"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
