#!/usr/bin/env bash
# Writes a minimal root filesystem tar built from Debian's busybox-static to
# stdout (or to $1): the base image Berth's quickstart and tests import,
# since no public registry is reachable.
set -euo pipefail
BB=${BUSYBOX:-/bin/busybox}
[ -x "$BB" ] || { echo "busybox-static is not installed (apt-get install busybox-static)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home,var/tmp,run}
chmod 1777 "$dir/tmp" "$dir/var/tmp"
chmod 700 "$dir/root"
cp "$BB" "$dir/bin/busybox"
for applet in $("$dir/bin/busybox" --list-full); do
  [ "$applet" = "bin/busybox" ] && continue
  mkdir -p "$dir/$(dirname "$applet")"
  ln -sf /bin/busybox "$dir/$applet"
done
cat > "$dir/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$dir/etc/group" <<'G'
root:x:0:
daemon:x:1:
tty:x:5:
users:x:100:nobody
nogroup:x:65534:
G
echo berth > "$dir/etc/hostname"
if [ -n "${1:-}" ]; then exec >"$1"; fi
tar -C "$dir" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - .
