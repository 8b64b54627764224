# shellcheck shell=bash
# Sourced by the service scripts: run a server in its own session, wait for it, stop it.
#   start_daemon NAME STATE_DIR HEALTH TIMEOUT_SECONDS COMMAND...
#   stop_daemon STATE_DIR [WAIT_SECONDS]
# HEALTH is a URL that answers (curl) once the server is ready, or, for a server that speaks
# no HTTP, "cmd:COMMAND": a shell command (or a function of the calling script) that succeeds
# once it is ready. A server that is already ready is left as it is; one still starting (its
# pid alive) is waited for, not started twice.
# stop_daemon sends SIGTERM to the server's session; with WAIT_SECONDS it then waits that long
# for the server to exit (a graceful shutdown) and kills it if it has not.

daemon_ready() {
  case $1 in
    cmd:*) eval "${1#cmd:}" >/dev/null 2>&1 ;;
    *) curl -sf "$1" >/dev/null 2>&1 ;;
  esac
}

# daemon_alive PID [PROGRAM]: alive and not a zombie (an exited server no process has reaped
# yet); with PROGRAM, also running it (not another process that was given a stale pid).
daemon_alive() {
  local stat
  [ -n "$1" ] && stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ] || return 1
  [ -z "${2:-}" ] || grep -qaF "${2##*/}" "/proc/$1/cmdline" 2>/dev/null
}

start_daemon() {
  local name=$1 state=$2 health=$3 timeout=$4 pid='' deadline
  shift 4
  mkdir -p "$state"
  if ! daemon_ready "$health"; then
    pid=$(cat "$state/pid" 2>/dev/null || true)
    if ! daemon_alive "$pid" "$1"; then
      setsid "$@" >"$state/server.log" 2>&1 < /dev/null &
      pid=$!
      echo "$pid" >"$state/pid"
    fi
    deadline=$((SECONDS + timeout))
    while [ "$SECONDS" -lt "$deadline" ]; do
      daemon_ready "$health" && break
      daemon_alive "$pid" || break  # it has exited: no use waiting
      sleep 0.5
    done
  fi
  daemon_ready "$health" || {
    if daemon_alive "${pid:-}"; then
      echo "$name did not answer within ${timeout}s; see $state/server.log" >&2
    else
      echo "$name exited before it answered; see $state/server.log" >&2
    fi
    if grep -qE 'ERROR|FATAL|Exception|Error' "$state/server.log" 2>/dev/null; then
      echo "--- its first error lines:" >&2
      grep -m 8 -E 'ERROR|FATAL|Exception|Error' "$state/server.log" >&2 || true
    fi
    echo "--- its last lines:" >&2
    tail -n 8 "$state/server.log" >&2 2>/dev/null || true
    exit 1
  }
}

stop_daemon() {
  local state=$1 wait=${2:-0} pid deadline
  [ -f "$state/pid" ] || return 0
  pid=$(cat "$state/pid")
  # The whole session: a server's workers die with it.
  kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  if [ "$wait" -gt 0 ]; then
    deadline=$((SECONDS + wait))
    while daemon_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if daemon_alive "$pid"; then
      echo "pid $pid did not exit within ${wait}s of SIGTERM: killing it" >&2
      kill -KILL -- -"$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$state/pid"
}
