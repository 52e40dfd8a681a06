#!/usr/bin/env bash
# usage: crds-from-module.sh NAME MODULE VERSION DIR
# Prints a directory holding the YAML files of DIR inside the Go module MODULE@VERSION
# (a project's CRDs, for the chart tests), fetched from the Go module proxy and cached
# under the user cache directory keyed by version.
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: crds-from-module.sh NAME MODULE VERSION DIR" >&2; exit 2; }
name=$1 module=$2 version=$3 sub=$4
OUT="${XDG_CACHE_HOME:-$HOME/.cache}/leaseguard/$name/$version"
if ! ls "$OUT"/*.yaml >/dev/null 2>&1; then
  command -v go >/dev/null 2>&1 || { echo "[$name] error: Go is not installed (it fetches $name's CRDs from the module proxy)" >&2; exit 1; }
  echo "[$name] fetching the CRDs of $module@$version" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  dir=$(cd "$work" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -d "$dir/$sub" ] || { echo "[$name] error: no $sub in the module at $dir" >&2; exit 1; }
  rm -rf "$OUT.partial" && mkdir -p "$OUT.partial"
  cp "$dir/$sub"/*.yaml "$OUT.partial/"
  rm -rf "$OUT" && mv "$OUT.partial" "$OUT"
fi
echo "$OUT"
