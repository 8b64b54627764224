#!/usr/bin/env bash
# moto_server: a real S3 HTTP endpoint on 127.0.0.1, standing in for MinIO in the tests
# (no MinIO can be installed from the package registries here).
#   scripts/moto.sh start   prints the endpoint URL once it answers
#   scripts/moto.sh stop
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
port=${TP_S3_PORT:-25900}
state=${TP_S3_DIR:-$root/var/services/moto}
url="http://127.0.0.1:$port"
bin="$root/.venv/bin/moto_server"
# shellcheck source=scripts/daemon.sh
. "$root/scripts/daemon.sh"

start() {
  [ -x "$bin" ] || { echo "moto_server is missing: run 'make install'" >&2; exit 1; }
  start_daemon moto_server "$state" "$url/moto-api/" 30 "$bin" -H 127.0.0.1 -p "$port"
  echo "$url"
}

stop() { stop_daemon "$state"; }

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
