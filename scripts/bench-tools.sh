#!/usr/bin/env bash
# Optional: installs the engines the benchmarks compare Berth with, when a
# distribution packages them (Debian 12: Podman 4.3 on runc), and wrk, the
# registry bench's load generator. `npm run bench` and `npm run bench:registry`
# use them in the same run when present.
# Docker's engine is left out: dockerd rewrites the host's iptables (FORWARD
# policy DROP), which would change what Berth's own tests see.
set -euo pipefail
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench-tools: missing ${missing[*]} (run as root to install)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
podman --version
wrk --version 2>&1 | head -1 || true
