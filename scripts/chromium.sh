#!/usr/bin/env bash
# Debian's Chromium for the browser tests (playwright-core drives it; Playwright's own browser
# downloads are not used).
#   scripts/chromium.sh install   install the Debian package if missing; prints the binary's path
#   scripts/chromium.sh path      the binary's path, or exit 1 when it is not installed
set -euo pipefail
# shellcheck source=scripts/apt.sh
. "$(dirname "$0")/apt.sh"

binary() {
  local candidate
  for candidate in "${TP_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  return 1
}

case "${1:-install}" in
  install)
    if ! binary >/dev/null; then
      apt_install Chromium chromium
    fi
    binary ;;
  path) binary ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
