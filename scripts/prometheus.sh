#!/usr/bin/env bash
# A private Prometheus (Debian package) on 127.0.0.1, scraping the API and the relay with the
# rules of dashboards/prometheus.
#   scripts/prometheus.sh start     install if missing, write the config, start; prints the URL
#   scripts/prometheus.sh stop
#   scripts/prometheus.sh url
#   scripts/prometheus.sh install   only install (prometheus and promtool)
# Port 29090 (TP_PROMETHEUS_PORT), not the package's 9090; its config, data/ and server.log in
# var/services/prometheus (TP_PROMETHEUS_DIR). The config is dashboards/prometheus/prometheus.yml
# with these replaced from the environment:
#   TP_PROMETHEUS_API_TARGET      host:port of the API      (127.0.0.1:8000)
#   TP_PROMETHEUS_RELAY_TARGET    host:port of the relay    (127.0.0.1:8001)
#   TP_PROMETHEUS_SCRAPE_INTERVAL, TP_PROMETHEUS_EVALUATION_INTERVAL   (as in the file: 5s, 15s)
# `start` on a running server rewrites the config and reloads it (SIGHUP).
set -euo pipefail
# shellcheck source=scripts/apt.sh
. "$(dirname "$0")/apt.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
port=${TP_PROMETHEUS_PORT:-29090}
state=${TP_PROMETHEUS_DIR:-$root/var/services/prometheus}
source_config="$root/dashboards/prometheus/prometheus.yml"
config="$state/prometheus.yml"
url="http://127.0.0.1:$port"
# shellcheck source=scripts/daemon.sh
. "$root/scripts/daemon.sh"

install_if_missing() {
  if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    apt_install Prometheus prometheus
    # The package may start its own service on :9090 (where an init system lets it); ours
    # runs on its own port and data, and needs none of it.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
      systemctl disable --now prometheus >&2 || true
    fi
  fi
}

write_config() {
  local api=${TP_PROMETHEUS_API_TARGET:-127.0.0.1:8000}
  local relay=${TP_PROMETHEUS_RELAY_TARGET:-127.0.0.1:8001}
  local scrape=${TP_PROMETHEUS_SCRAPE_INTERVAL:-} evaluation=${TP_PROMETHEUS_EVALUATION_INTERVAL:-}
  mkdir -p "$state"
  # Rule files are read relative to the config: point them at the repository's.
  sed -e "s#\"127.0.0.1:8000\"#\"$api\"#" \
    -e "s#\"127.0.0.1:8001\"#\"$relay\"#" \
    -e "s#^  - rules/#  - $root/dashboards/prometheus/rules/#" \
    ${scrape:+-e "s#^  scrape_interval: .*#  scrape_interval: $scrape#"} \
    ${evaluation:+-e "s#^  evaluation_interval: .*#  evaluation_interval: $evaluation#"} \
    "$source_config" >"$config.new"
  local checked
  if ! checked=$(promtool check config "$config.new" 2>&1); then
    echo "$checked" >&2
    exit 1
  fi
  mv "$config.new" "$config"
}

start() {
  install_if_missing
  write_config
  local pid
  pid=$(cat "$state/pid" 2>/dev/null || true)
  if daemon_ready "$url/-/ready"; then
    if ! daemon_alive "$pid" prometheus; then
      # Another Prometheus (another state dir's: a test's, another checkout's) holds the port.
      # Leaving it would scrape its targets, not ours, and it stops when its owner does.
      echo "port $port answers as a Prometheus not started from $state;" \
        "stop it or set TP_PROMETHEUS_PORT" >&2
      exit 1
    fi
    kill -HUP "$pid"  # a running server takes the new config without losing its data
  fi
  start_daemon prometheus "$state" "$url/-/ready" 60 \
    prometheus --config.file="$config" --storage.tsdb.path="$state/data" \
    --web.listen-address="127.0.0.1:$port"
  echo "$url"
}

stop() { stop_daemon "$state" 15; }

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  url) echo "$url" ;;
  install) install_if_missing ;;
  *) echo "usage: $0 start|stop|url|install" >&2; exit 2 ;;
esac
