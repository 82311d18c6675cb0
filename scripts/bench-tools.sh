#!/usr/bin/env bash
# Optional: installs the engines the benchmarks compare Berth with, when a
# distribution packages them (Debian 12: Podman 4.3 on runc). `npm run bench`
# and `npm run bench:registry` measure them in the same run when present.
# Docker's engine is left out: dockerd rewrites the host's iptables (FORWARD
# policy DROP), which would change what Berth's own tests see.
set -euo pipefail
if ! command -v podman >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench-tools: podman is missing (run as root to install it)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends podman >/dev/null
fi
podman --version
