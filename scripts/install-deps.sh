#!/usr/bin/env bash
# Installs what building and testing Skiff needs on a Debian machine. Go
# itself is expected at /usr/local/go (or on PATH); Go modules come from the
# module proxy during the build. Safe to run repeatedly.
set -euo pipefail
need=()
command -v make >/dev/null || need+=(make)
command -v git >/dev/null || need+=(git)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${need[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
go version >/dev/null
