#!/usr/bin/env bash
# usage: go-tool.sh NAME PACKAGE VERSION
# Prints the path of a tool the tests use, building it with `go install PACKAGE@VERSION` on
# first use and caching it under the user cache directory keyed by version, as the control
# plane is. Long builds say every 30 s that they are still going.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: go-tool.sh NAME PACKAGE VERSION" >&2; exit 2; }
name=$1 package=$2 version=$3
OUT="${XDG_CACHE_HOME:-$HOME/.cache}/leaseguard/$name/$version"
log() { printf '[%s] %s\n' "$name" "$*" >&2; }
if [ ! -x "$OUT/$name" ]; then
  command -v go >/dev/null 2>&1 || { log "error: Go is not installed; install Go >= 1.24 (it builds $name for the tests)"; exit 1; }
  log "building $name $version from $package (the first build takes a few minutes)"
  rm -rf "$OUT.partial" && mkdir -p "$OUT.partial"
  start=$(date +%s)
  GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$OUT.partial" go install -trimpath -ldflags "-s -w" "$package@$version" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null && log "still building $name ($(( $(date +%s) - start ))s elapsed)"
  done
  wait "$pid" || { log "error: building $name $version failed (see the Go errors above)"; exit 1; }
  [ -x "$OUT.partial/$name" ] || { log "error: go install left no $name binary in $OUT.partial"; exit 1; }
  rm -rf "$OUT" && mv "$OUT.partial" "$OUT"
  log "built in $(( $(date +%s) - start ))s: $OUT/$name"
fi
echo "$OUT/$name"
