#!/usr/bin/env bash
# `npm run quickstart`: install, build, start berthd, make a busybox image
# from Debian's busybox-static and run a container that greets you.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BERTH=./bin/berth
if [ "$(id -u)" -ne 0 ]; then echo "quickstart: run as root (Berth mounts overlays and runs runc)" >&2; exit 1; fi
# berth starts berthd in the background when no daemon answers.
$BERTH version --format '{{.Server.Version}}' >/dev/null
if ! $BERTH image inspect busybox:latest >/dev/null 2>&1; then
  bash scripts/busybox-rootfs.sh | $BERTH import --change 'CMD ["sh"]' - busybox:latest
fi
$BERTH images busybox
$BERTH run --rm --network none busybox sh -c 'echo "Hello from Berth! I am PID $$ in container $(hostname), running $(uname -sr)."'
echo
sock=${BERTH_HOST:-/run/berth/berth.sock}
echo "Try: ./bin/berth run -it --rm busybox sh     (docker CLI: DOCKER_HOST=unix://${sock#unix://} docker ps)"
