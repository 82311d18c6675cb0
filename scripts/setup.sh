#!/usr/bin/env bash
# Installs what Berth needs on Debian 12 (idempotent): the low-level parts
# from Debian (runc, conmon, CNI plugins, iptables, busybox-static for test
# images, tini for --init, zstd for zstd layers, skopeo, docker-registry and
# docker-compose 1.x as test oracles),
# then npm dependencies and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(runc conmon containernetworking-plugins iptables iproute2 util-linux busybox-static tini zstd skopeo docker-registry docker-compose tar procps openssl curl bsdutils e2fsprogs)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "berth setup: missing Debian packages: ${missing[*]} (run as root to install them)" >&2
    exit 1
  fi
  echo "berth setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules/koffi ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "berth setup: installing npm dependencies"
  npm install --no-audit --no-fund --loglevel=error
fi
node scripts/build.mjs
