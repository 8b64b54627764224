#!/usr/bin/env bash
# MLflow tracking server for full mode and its tests: PostgreSQL backend (scripts/postgres.sh),
# artifacts in S3 (moto_server from scripts/moto.sh standing in for MinIO), on 127.0.0.1.
#   scripts/mlflow.sh start   prints the tracking URI once /health answers
#   scripts/mlflow.sh stop
# With TP_MLFLOW_ADMIN_PASSWORD set, the server runs MLflow's basic-auth app as compose does:
# admin `tickerpulse` with that password, every other user read-only; its user store and CSRF
# key live in the state folder. Clients sign in with http://tickerpulse:PASSWORD@host:port.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
port=${TP_MLFLOW_PORT:-25500}
state=${TP_MLFLOW_DIR:-$root/var/services/mlflow}
bucket=${TP_MLFLOW_BUCKET:-tickerpulse-mlflow}
url="http://127.0.0.1:$port"
venv="$root/.venv/bin"
# shellcheck source=scripts/daemon.sh
. "$root/scripts/daemon.sh"

start() {
  if curl -sf "$url/health" >/dev/null 2>&1; then echo "$url"; return; fi
  local pg s3 db
  pg=$("$root/scripts/postgres.sh" start 2>/dev/null | tail -n 1)
  s3=$("$root/scripts/moto.sh" start | tail -n 1)
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
  export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} MLFLOW_S3_ENDPOINT_URL="$s3"
  db="${pg%/*}/mlflow"
  "$venv/python" "$root/scripts/provision.py" --postgres "$pg" --database mlflow --s3 "$s3" --bucket "$bucket"
  local auth=()
  if [ -n "${TP_MLFLOW_ADMIN_PASSWORD:-}" ]; then
    mkdir -p "$state"
    printf '[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///%s/auth.db\nauthorization_function = mlflow.server.auth:authenticate_request_basic_auth\n' \
      "$state" >"$state/auth.ini"
    [ -s "$state/secret" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/secret"
    export MLFLOW_AUTH_CONFIG_PATH="$state/auth.ini" MLFLOW_AUTH_ADMIN_USERNAME=tickerpulse
    export MLFLOW_AUTH_ADMIN_PASSWORD="$TP_MLFLOW_ADMIN_PASSWORD"
    MLFLOW_FLASK_SERVER_SECRET_KEY=$(cat "$state/secret")
    export MLFLOW_FLASK_SERVER_SECRET_KEY
    auth=(--app-name basic-auth)
  fi
  # MLflow's job execution (its GenAI jobs; the platform runs none) adds a job runner and seven
  # huey consumers to the server, which kept about half a core busy while idle.
  export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}
  start_daemon "MLflow server" "$state" "$url/health" 60 \
    "$venv/mlflow" server "${auth[@]}" --backend-store-uri "$db" --artifacts-destination "s3://$bucket/" \
    --host 127.0.0.1 --port "$port" --workers 1
  # /health answers before the backend store is opened; the first store call opens it, which
  # takes seconds: made here, so that clients with a bounded timeout find the server ready.
  local sign_in=()
  [ -z "${TP_MLFLOW_ADMIN_PASSWORD:-}" ] || sign_in=(-u "tickerpulse:$TP_MLFLOW_ADMIN_PASSWORD")
  curl -sf "${sign_in[@]}" --max-time 120 "$url/api/2.0/mlflow/experiments/search?max_results=1" >/dev/null || true
  echo "$url"
}

stop() { stop_daemon "$state"; }

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
