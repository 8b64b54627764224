#!/usr/bin/env bash
# A private PostgreSQL for the integration tests and full mode, on 127.0.0.1 only.
#   scripts/postgres.sh start   install (Debian package) if missing, init, start; prints the URL
#   scripts/postgres.sh stop
#   scripts/postgres.sh url
# Data lives in /var/tmp/tickerpulse/postgres-PORT (TP_PG_DIR): the server runs as the
# postgres user, which may not be able to enter a checkout (a clone under a 0700 folder).
# Port 25432 (TP_PG_PORT).
set -euo pipefail
# shellcheck source=scripts/apt.sh
. "$(dirname "$0")/apt.sh"
port=${TP_PG_PORT:-25432}
data=${TP_PG_DIR:-/var/tmp/tickerpulse/postgres-$port}
url="postgresql://tickerpulse@127.0.0.1:$port/tickerpulse"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

install_if_missing() {
  if [ -z "$(pg_bin)" ]; then
    apt_install PostgreSQL postgresql
  fi
}

# The server refuses to run as root; as root we run it as the package's postgres user.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  install_if_missing
  local bin; bin=$(pg_bin)
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    chmod 755 "$(dirname "$data")"
    [ "$(id -u)" = 0 ] && chown postgres: "$data"
    as_owner "$bin/initdb" -D "$data" -U postgres -A trust --no-sync >/dev/null
  fi
  if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    # fsync off: this server holds test and demo data, never the only copy of anything.
    as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
      -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >&2
  fi
  local psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA)
  if [ -z "$("${psql[@]}" -c "select 1 from pg_roles where rolname='tickerpulse'")" ]; then
    "${psql[@]}" -c "create role tickerpulse login createdb" >/dev/null
  fi
  if [ -z "$("${psql[@]}" -c "select 1 from pg_database where datname='tickerpulse'")" ]; then
    "${psql[@]}" -c "create database tickerpulse owner tickerpulse" >/dev/null
  fi
  echo "$url"
}

stop() {
  local bin; bin=$(pg_bin)
  if [ -n "$bin" ] && [ -f "$data/PG_VERSION" ]; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2 || true
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  url) echo "$url" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
