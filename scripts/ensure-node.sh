#!/usr/bin/env bash
# Prints the path of the Node.js binary the tests and the image use (the version in
# .node-version), fetching it on first use from the npm registry's node-linux-<arch>
# package and caching it under the user cache directory, keyed by version, as the control
# plane is. The machine's own Node.js (20 or newer) only needs to run npm and tsc.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(tr -d '[:space:]' < .node-version)
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "[node] no Node.js package for $(uname -m); install Node.js $version and put it first on PATH" >&2; exit 1 ;;
esac
dir="${XDG_CACHE_HOME:-$HOME/.cache}/leaseguard/node/v${version}-linux-${arch}"
if [ ! -x "$dir/bin/node" ]; then
  echo "[node] fetching Node.js $version (npm package node-linux-${arch}@${version}) into $dir" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-${arch}@${version}" >/dev/null)
  tar -xzf "$tmp"/node-linux-"${arch}"-*.tgz -C "$tmp"
  "$tmp/package/bin/node" --version >/dev/null
  mkdir -p "$(dirname "$dir")"
  rm -rf "$dir.partial" && mv "$tmp/package" "$dir.partial" && mv "$dir.partial" "$dir"
fi
echo "$dir/bin/node"
