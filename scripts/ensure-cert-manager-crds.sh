#!/usr/bin/env bash
# Prints a directory holding cert-manager's CRDs (Certificate, Issuer, ClusterIssuer, ...)
# for the chart test, taken from the cert-manager Go module's deploy/crds and cached under
# the user cache directory keyed by version. LEASEGUARD_CERT_MANAGER_VERSION picks another.
set -euo pipefail
VERSION="${LEASEGUARD_CERT_MANAGER_VERSION:-v1.21.2}"
OUT="${XDG_CACHE_HOME:-$HOME/.cache}/leaseguard/cert-manager/$VERSION"
if [ ! -f "$OUT/cert-manager.io_certificates.yaml" ]; then
  command -v go >/dev/null 2>&1 || { echo "[cert-manager] error: Go is not installed (it fetches cert-manager's CRDs from the module proxy)" >&2; exit 1; }
  echo "[cert-manager] fetching the CRDs of github.com/cert-manager/cert-manager@$VERSION" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  dir=$(cd "$work" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "github.com/cert-manager/cert-manager@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -d "$dir/deploy/crds" ] || { echo "[cert-manager] error: no deploy/crds in the module at $dir" >&2; exit 1; }
  rm -rf "$OUT.partial" && mkdir -p "$OUT.partial"
  cp "$dir"/deploy/crds/*.yaml "$OUT.partial/"
  rm -rf "$OUT" && mv "$OUT.partial" "$OUT"
fi
echo "$OUT"
