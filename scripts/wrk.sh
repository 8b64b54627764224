#!/usr/bin/env bash
# wrk, the HTTP load generator bench/bench_serving.py drives (Debian package `wrk`).
#   scripts/wrk.sh install   install if missing; prints its path
#   scripts/wrk.sh path      its path, or exit 1 saying how to install it
set -euo pipefail
# shellcheck source=scripts/apt.sh
. "$(dirname "$0")/apt.sh"

path() {
  if command -v wrk >/dev/null 2>&1; then
    command -v wrk
  else
    echo "wrk is not installed: run scripts/wrk.sh install (apt-get install wrk)" >&2
    return 1
  fi
}

install() {
  if ! command -v wrk >/dev/null 2>&1; then
    apt_install wrk wrk
  fi
  path
}

case "${1:-install}" in
  install) install ;;
  path) path ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
