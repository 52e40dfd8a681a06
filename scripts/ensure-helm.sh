#!/usr/bin/env bash
# Prints the path of a helm binary for the chart tests, building it from its Go module on
# first use and caching it under the user cache directory keyed by version, as the control
# plane is. LEASEGUARD_HELM_VERSION picks another version.
set -euo pipefail
HELM_VERSION="${LEASEGUARD_HELM_VERSION:-v4.3.2}"
OUT="${XDG_CACHE_HOME:-$HOME/.cache}/leaseguard/helm/$HELM_VERSION"
log() { printf '[helm] %s\n' "$*" >&2; }
if [ ! -x "$OUT/helm" ]; then
  command -v go >/dev/null 2>&1 || { log "error: Go is not installed; install Go >= 1.24 (it builds helm for the chart tests)"; exit 1; }
  major="${HELM_VERSION%%.*}"
  log "building helm $HELM_VERSION from helm.sh/helm/$major/cmd/helm (the first build takes a few minutes)"
  rm -rf "$OUT.partial" && mkdir -p "$OUT.partial"
  start=$(date +%s)
  GOTOOLCHAIN=local CGO_ENABLED=0 GOBIN="$OUT.partial" go install -trimpath -ldflags "-s -w" "helm.sh/helm/$major/cmd/helm@$HELM_VERSION" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null && log "still building helm ($(( $(date +%s) - start ))s elapsed)"
  done
  wait "$pid" || { log "error: building helm $HELM_VERSION failed (see the Go errors above)"; exit 1; }
  "$OUT.partial/helm" version --short >&2
  rm -rf "$OUT" && mv "$OUT.partial" "$OUT"
  log "built in $(( $(date +%s) - start ))s: $OUT/helm"
fi
echo "$OUT/helm"
