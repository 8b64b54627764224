#!/usr/bin/env bash
# The web page in dashboards/web (React + Vite): packages, build, tests, API client.
#   scripts/web.sh install   npm ci, when node_modules is missing or older than package-lock.json
#   scripts/web.sh build     install, then npm run build when dist/ is missing or older than a source
#   scripts/web.sh test      install, then the Vitest unit tests and the generated-client check
#   scripts/web.sh spec      write dashboards/web/openapi.json from the app (no server started)
#   scripts/web.sh client    spec, then npm run generate: src/client from openapi.json
# npm's cache lives in .cache/npm (git-ignored), so a second machine setup reuses downloads.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
web=$root/dashboards/web
export npm_config_cache=$root/.cache/npm npm_config_audit=false npm_config_fund=false \
  npm_config_update_notifier=false

need_node() {
  command -v npm >/dev/null 2>&1 || {
    echo "npm is not installed: the web page needs Node.js 20.19+ and npm" >&2
    exit 3
  }
}

# newer_than FILE PATH...: some file under the PATHs is newer than FILE (or FILE is missing).
newer_than() {
  local target=$1
  shift
  [ -e "$target" ] || return 0
  [ -n "$(find "$@" -newer "$target" -type f -print -quit 2>/dev/null)" ]
}

install() {
  need_node
  # npm ci writes node_modules/.package-lock.json last: it says the install completed.
  if newer_than "$web/node_modules/.package-lock.json" "$web/package-lock.json"; then
    echo "Installing the web page's packages (npm ci) ..." >&2
    (cd "$web" && npm ci --prefer-offline --no-progress --loglevel=error >&2)
  fi
}

build() {
  install
  if newer_than "$web/dist/index.html" "$web/src" "$web/index.html" "$web/vite.config.ts" \
    "$web/tsconfig.json" "$web/node_modules/.package-lock.json"; then
    echo "Building the web page (npm run build) ..." >&2
    (cd "$web" && npm run --silent build >&2)
  fi
  echo "$web/dist"
}

spec() {
  # The app object is built but never served: no port, no lifespan, no stores opened.
  (cd "$root" && "$root/.venv/bin/python" -c \
    "import json; from serving.app import create_app; print(json.dumps(create_app().openapi(), indent=2))") \
    >"$web/openapi.json.tmp"
  mv "$web/openapi.json.tmp" "$web/openapi.json"
  echo "$web/openapi.json"
}

case "${1:-build}" in
  install) install ;;
  build) build ;;
  test) install && (cd "$web" && npm test && npm run --silent check:client) ;;
  spec) spec ;;
  client) spec && install && (cd "$web" && npm run generate) ;;
  *) echo "usage: $0 install|build|test|spec|client" >&2; exit 2 ;;
esac
