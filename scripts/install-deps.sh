#!/usr/bin/env bash
# Installs what building and testing Skiff needs on a Debian machine, and
# what a node running real pods needs (skiff agent --runtime=cri; `skiff
# check` reports the same list): containerd (with ctr), runc, the CNI
# plugins (in /usr/lib/cni), iproute2, iptables and nftables, and busybox-static
# for the test images. Go itself is expected at
# /usr/local/go (or on PATH); Go modules come from the module proxy during
# the build. Safe to run repeatedly: it installs only what is missing and
# runs apt-get update at most once.
set -euo pipefail
need=()
have_cmd() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have_cmd make || need+=(make)
have_cmd git || need+=(git)
have_cmd containerd || need+=(containerd)
have_cmd runc || need+=(runc)
have_cmd ip || need+=(iproute2)
have_cmd nft || need+=(nftables)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
# iptables: the bridge plugin's ipMasq and portmap use it.
have_cmd iptables || need+=(iptables)
# busybox-static: the minimal shell image the tests run (test/images).
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install: ${need[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
go version >/dev/null
