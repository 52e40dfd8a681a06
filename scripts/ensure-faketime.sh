#!/usr/bin/env bash
# The clock-skew tests run leaseguard replicas under libfaketime (Debian's `faketime`
# package). Installs it when missing and this machine can (root with apt-get); otherwise
# says so, and those tests skip with the same message. Prints nothing else on stdout.
set -euo pipefail
find_lib() {
  for f in /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1 /usr/local/lib/faketime/libfaketime.so.1; do
    [ -f "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}
if find_lib >/dev/null; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[faketime] installing Debian's faketime package for the clock-skew tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q faketime >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 || true
    apt-get install -y -q faketime >&2 || echo "[faketime] apt-get could not install faketime; the clock-skew tests will skip" >&2
  fi
else
  echo "[faketime] libfaketime is missing and cannot be installed here (needs root and apt-get); the clock-skew tests will skip" >&2
fi
exit 0
