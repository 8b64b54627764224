#!/usr/bin/env bash
# `make up-full`: the platform in full mode on a machine without Docker. Starts the real
# services the other scripts install from packages (PostgreSQL, Redis, Kafka, S3 on
# moto_server standing in for MinIO, the MLflow tracking server, Prometheus), points every
# setting at them, and runs `tickerpulse up`, which then starts the relay, the metrics
# publisher and the prediction workers as processes of their own, as compose does.
# ClickHouse: no modern server installs here, so the warehouse is the ClickHouse code path on
# chDB's engine (clickhouse+chdb:///dir), in a directory the processes take turns on.
#
# Ctrl-C stops the platform and the services this script started; services that were
# already running (another checkout's, a test session's) are left running.
# Settings from the environment win, as in `make up`; also:
#   TP_FULL_RAW_DB, TP_FULL_DAGSTER_DB   PostgreSQL databases (tickerpulse_full, dagster_full)
#   TP_FULL_REDIS_CACHE_DB, TP_FULL_REDIS_BROKER_DB   Redis databases (2 and 3; 2 is flushed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export TICKERPULSE_DATA_DIR=${TICKERPULSE_DATA_DIR:-$root/var/full}
mkdir -p "$TICKERPULSE_DATA_DIR"
started=()
postgres="" redis="" kafka="" s3="" mlflow="" prometheus=""  # set by start

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start NAME PORT VARIABLE: scripts/NAME.sh start, its address (last line) into VARIABLE.
# Remembered for the stop at exit only if nothing answered on PORT before.
start() {
  local name=$1 port=$2 was_up=0 address
  listening "$port" && was_up=1
  echo "      $name ..." >&2
  address=$("scripts/$name.sh" start | tail -n 1)
  [ "$was_up" = 1 ] || started+=("$name")
  printf -v "$3" '%s' "$address"
}

stop_started() {
  local i
  [ "${#started[@]}" -gt 0 ] || return 0
  echo "Stopping the services up-full started: ${started[*]}" >&2
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    "scripts/${started[i]}.sh" stop >/dev/null 2>&1 || true
  done
}
trap stop_started EXIT
trap 'echo "(stopping)" >&2' INT TERM  # the platform stops itself; then the EXIT trap runs

echo "[full] Starting the real services (first run installs them: a few minutes)" >&2
start postgres "${TP_PG_PORT:-25432}" postgres
start redis "${TP_REDIS_PORT:-26379}" redis
start kafka "${TP_KAFKA_PORT:-29092}" kafka
start moto "${TP_S3_PORT:-25900}" s3
start mlflow "${TP_MLFLOW_PORT:-25500}" mlflow

export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
raw_db=${TP_FULL_RAW_DB:-tickerpulse_full} dagster_db=${TP_FULL_DAGSTER_DB:-dagster_full}
bucket=${DAGSTER_COMPUTE_LOG_BUCKET:-tickerpulse}
redis_base=${redis%/*}
# Full mode's databases and bucket; the cache starts empty (it may hold another run's answers).
.venv/bin/python scripts/provision.py --postgres "$postgres" --database "$raw_db" \
  --database "$dagster_db" --s3 "$s3" --bucket "$bucket" \
  --flush-redis "$redis_base/${TP_FULL_REDIS_CACHE_DB:-2}"

host=${API_HOST:-127.0.0.1}
export RAW_DB_URL=${RAW_DB_URL:-${postgres%/*}/$raw_db}
pg_server=${postgres%/*}
# dagster-postgres sends NOTIFY with a bound parameter, which only psycopg2 lets through.
export DAGSTER_POSTGRES_URL=${DAGSTER_POSTGRES_URL:-${pg_server/postgresql:/postgresql+psycopg2:}/$dagster_db}
export DAGSTER_COMPUTE_LOG_BUCKET=$bucket
export WAREHOUSE_URL=${WAREHOUSE_URL:-clickhouse+chdb://$TICKERPULSE_DATA_DIR/clickhouse?database=tickerpulse}
export MLFLOW_TRACKING_URI=${MLFLOW_TRACKING_URI:-$mlflow}
export CACHE_URL=${CACHE_URL:-$redis_base/${TP_FULL_REDIS_CACHE_DB:-2}}
export CELERY_BROKER_URL=${CELERY_BROKER_URL:-$redis_base/${TP_FULL_REDIS_BROKER_DB:-3}}
export EVENTS_URL=${EVENTS_URL:-kafka://$kafka}
export S3_ENDPOINT_URL=${S3_ENDPOINT_URL:-$s3}
export INBOX_S3_BUCKET=${INBOX_S3_BUCKET:-$bucket} INBOX_S3_PREFIX=${INBOX_S3_PREFIX:-inbox/}
export STREAM_PUBLIC_URL=${STREAM_PUBLIC_URL:-ws://$host:${RELAY_PORT:-8001}/v1/stream}

export TP_PROMETHEUS_API_TARGET=$host:${API_PORT:-8000} TP_PROMETHEUS_RELAY_TARGET=$host:${RELAY_PORT:-8001}
start prometheus "${TP_PROMETHEUS_PORT:-29090}" prometheus

cat >&2 <<EOF
[full] Services:
      PostgreSQL   $RAW_DB_URL  (Dagster: $DAGSTER_POSTGRES_URL)
      Redis        $CACHE_URL  (Celery broker: $CELERY_BROKER_URL)
      Kafka        $EVENTS_URL
      S3           $S3_ENDPOINT_URL  (moto_server for MinIO; bucket $bucket: compute logs, inbox/)
      MLflow       $MLFLOW_TRACKING_URI  (PostgreSQL backend, artifacts in S3)
      ClickHouse   $WAREHOUSE_URL
      Prometheus   $prometheus  (Grafana: no server installs here; dashboards/grafana for compose)
EOF
.venv/bin/tickerpulse up "$@"
