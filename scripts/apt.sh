# shellcheck shell=bash
# Sourced by the service scripts: install Debian packages, keeping the downloaded .deb files in
# the checkout's git-ignored .cache/apt so that a machine set up again reuses them.
#   apt_install WHAT PACKAGE...    WHAT is said on stderr ("Installing WHAT (Debian package) ...")
# Needs root (CI machines and containers run as root); output goes to stderr, so a script's
# stdout stays its one line of result.

apt_install() {
  local what=$1 archives
  shift
  archives="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache/apt/archives"
  mkdir -p "$archives/partial"
  echo "Installing $what (Debian package) ..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o "Dir::Cache::Archives=$archives" "$@" >&2
}
