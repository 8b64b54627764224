# Sourced by the service scripts: run a server in its own session, wait for it, stop it.
#   start_daemon NAME STATE_DIR HEALTH_URL TIMEOUT_SECONDS COMMAND...
#   stop_daemon STATE_DIR

start_daemon() {
  local name=$1 state=$2 health=$3 timeout=$4
  shift 4
  mkdir -p "$state"
  if ! curl -sf "$health" >/dev/null 2>&1; then
    setsid "$@" >"$state/server.log" 2>&1 < /dev/null &
    echo $! >"$state/pid"
    for _ in $(seq 1 $((timeout * 2))); do
      curl -sf "$health" >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  curl -sf "$health" >/dev/null || { echo "$name did not answer; see $state/server.log" >&2; exit 1; }
}

stop_daemon() {
  local state=$1
  if [ -f "$state/pid" ]; then
    # The whole session: a server's workers die with it.
    kill -- -"$(cat "$state/pid")" 2>/dev/null || kill "$(cat "$state/pid")" 2>/dev/null || true
    rm -f "$state/pid"
  fi
}
